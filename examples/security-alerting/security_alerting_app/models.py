"""Every boundary of the security-alerting workflows. Every field is constrained (patterns, literals): a finding
carries identifiers and labels, never free text, so it is trusted input wherever it lands."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ACCOUNT_ID = r"^\d{12}$"
RESOURCE_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
FINDING_ID = r"^f-[0-9a-f]{16}$"

Signal = Literal["public-bucket", "root-login", "open-security-group"]
Severity = Literal["low", "medium", "high", "critical"]


class Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class DetectionRequest(Boundary):
    """What a sensor reports: which account and resource, and which signal it saw."""

    account_id: str = Field(pattern=ACCOUNT_ID)
    resource_id: str = Field(pattern=RESOURCE_ID)
    signal: Signal


class Finding(Boundary):
    """The finding the detection agent publishes: the detail of its event, and the input of every subscriber."""

    finding_id: str = Field(pattern=FINDING_ID)
    account_id: str = Field(pattern=ACCOUNT_ID)
    resource_id: str = Field(pattern=RESOURCE_ID)
    signal: Signal
    severity: Severity


class Published(Boundary):
    finding: Finding
    event_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,128}$")


# ---------------------------------------------------------------- tools' arguments


class PublishFindingArgs(Finding):
    pass


class LookupAssetArgs(Boundary):
    resource_id: str = Field(pattern=RESOURCE_ID)


class PageTeamArgs(Boundary):
    finding_id: str = Field(pattern=FINDING_ID)
    team: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    severity: Severity


# ---------------------------------------------------------------- agents


class AssetOwner(Boundary):
    resource_id: str = Field(pattern=RESOURCE_ID)
    team: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    environment: Literal["production", "staging", "development", "unknown"]


class Enrichment(Boundary):
    finding_id: str = Field(pattern=FINDING_ID)
    owner: AssetOwner
    priority: Literal["p1", "p2", "p3"]


class Page(Boundary):
    finding_id: str = Field(pattern=FINDING_ID)
    team: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")
    message_id: str = Field(max_length=128)
