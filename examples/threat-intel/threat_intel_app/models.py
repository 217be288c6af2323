"""Every boundary of the threat-intel workflow: its input, each agent's input and output, each tool's arguments."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.reconcile import Reconciled

Severity = Literal["low", "medium", "high", "critical"]
# lowest first: the order the "highest" conflict rule ranks severities by
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
SCOPE = r"^[a-z][a-z0-9-]{1,40}$"


class Boundary(BaseModel):
    # built at first use: a Lambda function builds only the models on its own path
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ThreatIntelRequest(Boundary):
    """What an analyst (or a scheduler) submits: which watchlist to look up, how far back, how to settle a conflict."""

    scope: str = Field(pattern=SCOPE, description="the watchlist the feeds are asked about")
    since_days: int = Field(default=7, ge=1, le=30)
    # where feeds disagree on an indicator's severity: the highest any feed reports, or what most of them report
    on_conflict: Literal["highest", "majority"] = "highest"


class QueryFeedArgs(Boundary):
    scope: str = Field(pattern=SCOPE)
    since_days: int = Field(ge=1, le=30)


class Indicator(Boundary):
    """One indicator of compromise as a feed reports it. Its description is the feed's words: untrusted text."""

    indicator: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:/_-]+$")
    type: Literal["ipv4", "domain", "sha256", "url"]
    severity: Severity
    description: str = Field(default="", max_length=500)


class FeedInput(Boundary):
    scope: str = Field(pattern=SCOPE)
    since_days: int = Field(ge=1, le=30)


class FeedReport(Boundary):
    feed: str = Field(pattern=r"^[a-z0-9.-]{1,64}$")
    indicators: list[Indicator] = Field(max_length=200)


class ReportInput(Boundary):
    scope: str = Field(pattern=SCOPE)
    intel: Reconciled  # the stage's merged value (baton.reconcile), recorded by the orchestrator


class ThreatReport(Boundary):
    scope: str = Field(pattern=SCOPE)
    indicators: list[Indicator]
    by_severity: dict[Severity, int]
    feeds_answered: list[str]
    feeds_failed: list[str]
    partial: bool
    conflicts: int = Field(ge=0)
