"""The shapes both business units agree on (the contract of A's API) and each side's own."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QUARTER = r"^\d{4}-Q[1-4]$"
REGION = r"^[a-z]{2,12}(-[a-z]{2,12}){0,2}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportRequest(_Model):
    """Both workflows' input: the quarter to report on."""

    quarter: str = Field(pattern=QUARTER)


class SalesQuery(_Model):
    quarter: str = Field(pattern=QUARTER)


class SalesSummary(_Model):
    """Business unit A's summary of a quarter: what A's API returns, and all B ever reads of A. Constrained values
    only (patterns, numbers, literals): no instruction can ride on it."""

    business_unit: Literal["bu-a"]
    quarter: str = Field(pattern=QUARTER)
    revenue_cents: int = Field(ge=0, le=10**15)
    orders: int = Field(ge=0, le=10**9)
    top_region: str = Field(pattern=REGION)


class OwnSales(_Model):
    business_unit: Literal["bu-b"]
    quarter: str = Field(pattern=QUARTER)
    revenue_cents: int = Field(ge=0, le=10**15)
    orders: int = Field(ge=0, le=10**9)


class SummaryInput(_Model):
    quarter: str = Field(pattern=QUARTER)


class PeerSalesInput(_Model):
    quarter: str = Field(pattern=QUARTER)


class ConsolidationInput(_Model):
    quarter: str = Field(pattern=QUARTER)
    peer_sales: SalesSummary


class UnitLine(_Model):
    business_unit: Literal["bu-a", "bu-b"]
    revenue_cents: int = Field(ge=0)
    orders: int = Field(ge=0)
    share_percent: float = Field(ge=0, le=100)
    source: Literal["peer-api", "own-store"]


class ConsolidatedReport(_Model):
    quarter: str = Field(pattern=QUARTER)
    total_revenue_cents: int = Field(ge=0)
    total_orders: int = Field(ge=0)
    units: list[UnitLine]
