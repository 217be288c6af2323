"""What a run's model calls cost, estimated from its usage by model and a dated price table (prices.json).

An estimate: list prices of one region and tier, each dated in the table. A model the table does not price is
named in `unpriced`, and its tokens are not in `usd`; a cross-region inference profile id ("us.anthropic...") is
priced as its foundation model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field

from baton.catalog import INFERENCE_PROFILE_PREFIXES
from baton.models import ModelUsage

PRICES_FILE = "prices.json"


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    input: float = Field(ge=0)  # per `unit_tokens` input tokens
    output: float = Field(ge=0)
    as_of: str


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    about: str = ""
    currency: str
    unit_tokens: int = Field(gt=0)
    models: dict[str, ModelPrice]

    def price(self, model_id: str) -> ModelPrice | None:
        found = self.models.get(model_id)
        if found is None and model_id.startswith(INFERENCE_PROFILE_PREFIXES):
            found = self.models.get(model_id.split(".", 1)[1])
        return found


class CostEstimate(BaseModel):
    """A run's estimated model cost."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built at first use (see models.Strict)

    usd: float
    # the oldest date among the prices used (None when nothing was priced)
    prices_as_of: str | None = None
    unpriced: list[str] = Field(default_factory=list)


@cache
def price_table() -> PriceTable:
    """Baton's price table (package data)."""
    return PriceTable.model_validate(json.loads(files("baton.ai").joinpath(PRICES_FILE).read_text()))


def estimate_cost(usage_by_model: Mapping[str, ModelUsage], table: PriceTable | None = None) -> CostEstimate:
    prices = table or price_table()
    usd = 0.0
    dates: list[str] = []
    unpriced: list[str] = []
    for model_id, usage in sorted(usage_by_model.items()):
        if not (usage.input_tokens or usage.output_tokens):
            continue
        price = prices.price(model_id)
        if price is None:
            unpriced.append(model_id)
            continue
        usd += (usage.input_tokens * price.input + usage.output_tokens * price.output) / prices.unit_tokens
        dates.append(price.as_of)
    return CostEstimate(usd=round(usd, 6), prices_as_of=min(dates) if dates else None, unpriced=unpriced)
