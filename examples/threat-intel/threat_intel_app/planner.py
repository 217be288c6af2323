"""The threat-intel planner: one concurrent stage over the three feeds, reconciled, then the report.

The feeds are independent, so they run at once, in one stage; the stage declares how their answers are combined
(`reconcile`): the indicators merged, de-duplicated by indicator, and where feeds disagree on a severity the rule
the run's input chose (the highest any feed reports, or what most feeds report). The orchestrator applies it when
it folds the stage and records the merged value under "intel", naming the feeds that failed. The planner routes
on that value's trusted facts alone: enough feeds answered (at least one), or the run fails saying which did not.
"""

from __future__ import annotations

from typing import ClassVar

from baton.models import Decision, Delegate, Fail, Finish, Highest, Majority, Reconcile, RunView, Task, TaskStatus
from baton.reconcile import Reconciled
from threat_intel_app.models import SEVERITIES, ThreatReport

FEEDS = ("feed_a", "feed_b", "feed_c")
INTEL = "intel"


def reconcile(rule: str) -> Reconcile:
    """The stage's declared reconcile: merge by indicator; on a severity conflict, the rule the input chose."""
    order = list(SEVERITIES)
    conflict = Majority(field="severity", order=order) if rule == "majority" else Highest(field="severity", order=order)
    return Reconcile(into=INTEL, items="indicators", key="indicator", on_conflict=conflict, min_succeeded=1)


class ThreatIntelPlanner:
    # Where decide() can go from each step, for `baton graph threat-intel` (from, to, label)
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        *(("input", feed, "query the three feeds at once") for feed in FEEDS),
        *((feed, "report", "reconciled: merged by indicator") for feed in FEEDS),
        *((feed, "fail", "no feed answered") for feed in FEEDS),
        ("report", "finish", "reported"),
        ("report", "fail", "report failed"),
    )

    def decide(self, run: RunView) -> Decision:
        if run.latest(FEEDS[0]) is None:
            rule = str(run.value("on_conflict") or "highest")  # a trusted input field, constrained by its model
            return Delegate(
                tasks=[Task(agent=feed) for feed in FEEDS],
                reconcile=reconcile(rule),
                reason="query the three feeds at once",
            )
        intel = Reconciled.model_validate(run.value(INTEL))
        if not intel.enough:
            return Fail(reason=f"no threat feed answered: {intel.reason}")
        report = run.latest("report")
        if report is None:
            reason = f"reconciled {len(intel.items)} indicators" + (
                f"; failed: {intel.failed}" if intel.partial else ""
            )
            return Delegate(tasks=[Task(agent="report")], reason=reason)
        if report.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"report failed: {report.error_type}")
        result = ThreatReport.model_validate(run.value("report"))
        return Finish(result=result.model_dump(mode="json"))
