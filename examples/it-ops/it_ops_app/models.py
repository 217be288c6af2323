"""The it-ops models: every one crosses a trust boundary, so each forbids extra fields.

The incident's id, service and symptoms are constrained (a pattern, literals) and trusted; its description is free text
from whoever reported it, untrusted, and no agent or planner reads it to decide anything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IncidentId = Field(pattern=r"^INC-[0-9]{4,8}$")
ServiceName = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
Symptom = Literal[
    "packet_loss", "dns_failure", "latency", "login_failure", "mfa_failure", "access_denied", "error_rate", "crash"
]
Category = Literal["network", "identity", "application"]


class Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Incident(Boundary):
    """The top-level workflow's input."""

    incident_id: str = IncidentId
    service: str = ServiceName
    symptoms: list[Symptom] = Field(min_length=1, max_length=8)
    description: str = Field(default="", max_length=2_000)


class SubIncident(Boundary):
    """Each sub-workflow's input: what the router passes down (constrained values only)."""

    incident_id: str = IncidentId
    service: str = ServiceName


# ---------------------------------------------------------------- the router's agents


class TriageInput(Boundary):
    incident_id: str = IncidentId
    symptoms: list[Symptom] = Field(min_length=1, max_length=8)


class Triage(Boundary):
    categories: list[Category]
    severity: Literal["low", "high"]


class EscalationInput(Boundary):
    incident_id: str = IncidentId
    service: str = ServiceName
    failed: list[Category] = Field(min_length=1)


class Escalation(Boundary):
    page_id: str


class PageArgs(Boundary):
    incident_id: str = IncidentId
    service: str = ServiceName
    failed: list[Category] = Field(min_length=1)


# ---------------------------------------------------------------- the sub-workflows' agents and tools


class ServiceArgs(Boundary):
    service: str = ServiceName


class LinkStatus(Boundary):
    service: str
    found: bool
    link: Literal["up", "degraded", "down", "unknown"] = "unknown"
    region: str = ""


class TicketArgs(Boundary):
    incident_id: str = IncidentId
    service: str = ServiceName
    reason: Literal["link_degraded", "link_down", "unhealthy"]


class Ticket(Boundary):
    ticket_id: str


class AccountStatus(Boundary):
    service: str
    found: bool
    sync: Literal["ok", "stale", "failed", "unknown"] = "unknown"


class ServiceHealth(Boundary):
    service: str
    healthy: bool
    error_rate_percent: float = Field(ge=0, le=100)


class LinkCheckInput(Boundary):
    service: str = ServiceName


class NetworkTicketInput(Boundary):
    incident_id: str = IncidentId
    service: str = ServiceName
    link_check: LinkStatus


class AccountCheckInput(Boundary):
    service: str = ServiceName


class HealthCheckInput(Boundary):
    service: str = ServiceName


class RestartInput(Boundary):
    incident_id: str = IncidentId
    service: str = ServiceName
    health_check: ServiceHealth
