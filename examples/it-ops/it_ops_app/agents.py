"""The it-ops agents: coded, each with only its own tools (one sub-workflow's agents never hold another's).

triage          the router's: maps the incident's symptoms (constrained values) to categories; no tools
escalation      the router's: pages the on-call engineer when a sub-workflow failed (sns:Publish on one topic)
link_check      network: reads the service's link status (dynamodb:GetItem on network_links)
network_ticket  network: opens a network ticket (sqs:SendMessage on network_tickets)
account_check   identity: reads the service's directory sync state (dynamodb:GetItem on directory_sync)
health_check    application: reads the service's health (dynamodb:GetItem on service_health)
restart         application: asks for a restart (sqs:SendMessage on restart_requests)
"""

from __future__ import annotations

from typing import Any

from baton.tools import AgentTaskFailed, ToolBox
from it_ops_app.models import (
    AccountCheckInput,
    AccountStatus,
    Category,
    Escalation,
    EscalationInput,
    HealthCheckInput,
    LinkCheckInput,
    LinkStatus,
    NetworkTicketInput,
    PageArgs,
    RestartInput,
    ServiceArgs,
    ServiceHealth,
    Ticket,
    TicketArgs,
    Triage,
    TriageInput,
)

CATEGORY_OF: dict[str, Category] = {
    "packet_loss": "network",
    "dns_failure": "network",
    "latency": "network",
    "login_failure": "identity",
    "mfa_failure": "identity",
    "access_denied": "identity",
    "error_rate": "application",
    "crash": "application",
}
ORDER: tuple[Category, ...] = ("network", "identity", "application")


def triage(task: TriageInput, tools: ToolBox) -> Triage:
    found = {CATEGORY_OF[symptom] for symptom in task.symptoms}
    categories = [c for c in ORDER if c in found]
    return Triage(categories=categories, severity="high" if len(categories) > 1 else "low")


def escalation(task: EscalationInput, tools: ToolBox) -> Escalation:
    page = PageArgs(incident_id=task.incident_id, service=task.service, failed=task.failed)
    return Escalation(page_id=str(tools.call("page_oncall", **page.model_dump())))


def link_check(task: LinkCheckInput, tools: ToolBox) -> LinkStatus:
    item: dict[str, Any] | None = tools.call("get_link_status", **ServiceArgs(service=task.service).model_dump())
    if item is None:
        return LinkStatus(service=task.service, found=False)
    return LinkStatus(service=task.service, found=True, link=item["link"], region=str(item.get("region", "")))


def network_ticket(task: NetworkTicketInput, tools: ToolBox) -> Ticket:
    reason = "link_down" if task.link_check.link == "down" else "link_degraded"
    args = TicketArgs(incident_id=task.incident_id, service=task.service, reason=reason)
    return Ticket(ticket_id=str(tools.call("open_network_ticket", **args.model_dump())))


def account_check(task: AccountCheckInput, tools: ToolBox) -> AccountStatus:
    item: dict[str, Any] | None = tools.call("get_directory_sync", **ServiceArgs(service=task.service).model_dump())
    if item is None:
        return AccountStatus(service=task.service, found=False)
    return AccountStatus(service=task.service, found=True, sync=item["sync"])


def health_check(task: HealthCheckInput, tools: ToolBox) -> ServiceHealth:
    item: dict[str, Any] | None = tools.call("get_service_health", **ServiceArgs(service=task.service).model_dump())
    if item is None:
        raise AgentTaskFailed(f"service {task.service} is not in the health registry")
    rate = float(item["error_rate_percent"])
    return ServiceHealth(service=task.service, healthy=rate < 5, error_rate_percent=rate)


def restart(task: RestartInput, tools: ToolBox) -> Ticket:
    args = TicketArgs(incident_id=task.incident_id, service=task.service, reason="unhealthy")
    return Ticket(ticket_id=str(tools.call("request_restart", **args.model_dump())))
