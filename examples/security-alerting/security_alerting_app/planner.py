"""The security-alerting planners: each workflow is one agent's step. Detection publishes; enrichment and
notification are started by the finding's event (baton.triggers), each knowing only its own agent."""

from __future__ import annotations

from typing import ClassVar

from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskStatus


class _OneStep:
    AGENT: ClassVar[str]
    WHY: ClassVar[str]

    def decide(self, run: RunView) -> Decision:
        outcome = run.latest(self.AGENT)
        if outcome is None:
            return Delegate(tasks=[Task(agent=self.AGENT)], reason=self.WHY)
        if outcome.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"{self.AGENT} failed: {outcome.error}")
        return Finish(result=run.value(self.AGENT))


class DetectionPlanner(_OneStep):
    AGENT = "detector"
    WHY = "turn the signal into a finding and publish it"
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "detector", WHY),
        ("detector", "fail", "detection or publishing failed"),
        ("detector", "finish", "finding published on the findings bus"),
    )


class EnrichmentPlanner(_OneStep):
    AGENT = "enricher"
    WHY = "find the asset's owner and set a priority"
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "enricher", WHY),
        ("enricher", "fail", "enrichment failed"),
        ("enricher", "finish", "finding enriched"),
    )


class NotificationPlanner(_OneStep):
    AGENT = "pager"
    WHY = "page the owning team's on-call"
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "pager", WHY),
        ("pager", "fail", "paging failed"),
        ("pager", "finish", "on-call paged"),
    )
