"""The it-ops planners: the incident router (the top-level workflow) and one per sub-workflow.

The router delegates triage (symptoms, constrained values, to categories), then hands the incident to the
sub-workflow of each category at once, as child runs (a task whose agent is a child workflow; its params are the
child's input), then, if a child run failed, pages the on-call engineer. It routes on statuses and on the triage's
constrained labels only, never on the incident's free-text description.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue

from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskOutcome, TaskStatus
from it_ops_app.models import LinkStatus, ServiceHealth, Triage

CHILD_OF = {"network": "network-incident", "identity": "identity-incident", "application": "application-incident"}


def _ok(outcome: TaskOutcome | None) -> bool:
    return outcome is not None and outcome.status is TaskStatus.SUCCEEDED


class ItOpsPlanner:
    # Where decide() can go from each step, for `baton graph it-ops` (from, to, label)
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "triage", "classify the incident"),
        ("triage", "fail", "triage failed"),
        ("triage", "network-incident", "network symptoms"),
        ("triage", "identity-incident", "identity symptoms"),
        ("triage", "application-incident", "application symptoms"),
        ("network-incident", "finish", "every sub-workflow succeeded"),
        ("identity-incident", "finish", "every sub-workflow succeeded"),
        ("application-incident", "finish", "every sub-workflow succeeded"),
        ("network-incident", "escalation", "a sub-workflow failed: page on-call"),
        ("identity-incident", "escalation", "a sub-workflow failed: page on-call"),
        ("application-incident", "escalation", "a sub-workflow failed: page on-call"),
        ("escalation", "finish", "escalated"),
        ("escalation", "fail", "paging failed"),
    )

    def decide(self, run: RunView) -> Decision:
        triage = run.latest("triage")
        if triage is None:
            return Delegate(tasks=[Task(agent="triage")], reason="classify the incident")
        if not _ok(triage):
            return Fail(reason=f"triage failed: {triage.error}")
        categories = Triage.model_validate(run.value("triage")).categories
        incident = {"incident_id": run.value("incident_id"), "service": run.value("service")}
        outcomes = {category: run.latest(category) for category in categories}
        if all(outcome is None for outcome in outcomes.values()):
            tasks = [Task(agent=CHILD_OF[c], key=c, params=dict(incident)) for c in categories]
            return Delegate(tasks=tasks, reason="hand the incident to the sub-workflow of each category")
        failed = [c for c, outcome in outcomes.items() if not _ok(outcome)]
        resolved: dict[str, JsonValue] = {c: run.value(c) for c in categories if c not in failed}
        result: dict[str, JsonValue] = {
            **incident,
            "routed": list(categories),
            "resolved": resolved,
            "failed": list(failed),
            "child_runs": {c: o.child_run_id for c, o in outcomes.items() if o is not None},
        }
        if not failed:
            return Finish(result=result | {"escalated": False})
        escalation = run.latest("escalation")
        if escalation is None:
            return Delegate(
                tasks=[Task(agent="escalation", params={"failed": list(failed)})],
                reason="a sub-workflow failed: page the on-call engineer",
            )
        if not _ok(escalation):
            return Fail(reason=f"sub-workflows {failed} failed and paging failed: {escalation.error}")
        return Finish(result=result | {"escalated": True, "page": run.value("escalation")})


class NetworkPlanner:
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "link_check", "check the service's links"),
        ("link_check", "fail", "link check failed"),
        ("link_check", "finish", "links up or unknown"),
        ("link_check", "network_ticket", "link degraded or down"),
        ("network_ticket", "finish", "ticket opened"),
        ("network_ticket", "fail", "ticket failed"),
    )

    def decide(self, run: RunView) -> Decision:
        check = run.latest("link_check")
        if check is None:
            return Delegate(tasks=[Task(agent="link_check")], reason="check the service's links")
        if not _ok(check):
            return Fail(reason=f"link check failed: {check.error}")
        status = LinkStatus.model_validate(run.value("link_check"))
        if status.link not in ("degraded", "down"):
            return Finish(result={"link": status.link, "ticket": None})
        ticket = run.latest("network_ticket")
        if ticket is None:
            return Delegate(tasks=[Task(agent="network_ticket")], reason="link degraded: open a network ticket")
        if not _ok(ticket):
            return Fail(reason=f"network ticket failed: {ticket.error}")
        return Finish(result={"link": status.link, "region": status.region, "ticket": run.value("network_ticket")})


class IdentityPlanner:
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "account_check", "check the directory sync"),
        ("account_check", "fail", "check failed or service unknown"),
        ("account_check", "finish", "sync state known"),
    )

    def decide(self, run: RunView) -> Decision:
        check = run.latest("account_check")
        if check is None:
            return Delegate(tasks=[Task(agent="account_check")], reason="check the directory sync")
        if not _ok(check):
            return Fail(reason=f"account check failed: {check.error}")
        value = run.value("account_check")
        if not isinstance(value, dict) or not value.get("found"):
            return Fail(reason=f"service {run.value('service')} has no directory sync record")
        return Finish(result={"sync": value.get("sync")})


class ApplicationPlanner:
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "health_check", "check the service's health"),
        ("health_check", "fail", "health check failed (unknown service)"),
        ("health_check", "finish", "healthy"),
        ("health_check", "restart", "unhealthy: ask for a restart"),
        ("restart", "finish", "restart requested"),
        ("restart", "fail", "restart request failed"),
    )

    def decide(self, run: RunView) -> Decision:
        check = run.latest("health_check")
        if check is None:
            return Delegate(tasks=[Task(agent="health_check")], reason="check the service's health")
        if not _ok(check):
            return Fail(reason=f"health check failed: {check.error}")
        health = ServiceHealth.model_validate(run.value("health_check"))
        if health.healthy:
            return Finish(result={"healthy": True, "error_rate_percent": health.error_rate_percent})
        restart = run.latest("restart")
        if restart is None:
            return Delegate(tasks=[Task(agent="restart")], reason="unhealthy: ask for a restart")
        if not _ok(restart):
            return Fail(reason=f"restart request failed: {restart.error}")
        return Finish(
            result={"healthy": False, "error_rate_percent": health.error_rate_percent, "restart": run.value("restart")}
        )
