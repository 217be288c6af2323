"""The threat-intel workflow's agents: three feed readers, each reaching only its own feed, and the report writer."""

from __future__ import annotations

from collections import Counter

from baton.tools import ToolBox
from threat_intel_app.models import SEVERITIES, FeedInput, FeedReport, Indicator, ReportInput, ThreatReport
from threat_intel_app.names import FEED_HOSTS


def _feed(name: str, task: FeedInput, tools: ToolBox) -> FeedReport:
    body = tools.call(f"query_{name}", scope=task.scope, since_days=task.since_days)
    # the feed's answer is checked against the output model by the runtime and again by the orchestrator: an
    # indicator a feed shapes wrongly fails the task rather than reaching the merge
    return FeedReport(feed=FEED_HOSTS[name], indicators=[Indicator.model_validate(i) for i in body["indicators"]])


def feed_a(task: FeedInput, tools: ToolBox) -> FeedReport:
    return _feed("feed_a", task, tools)


def feed_b(task: FeedInput, tools: ToolBox) -> FeedReport:
    return _feed("feed_b", task, tools)


def feed_c(task: FeedInput, tools: ToolBox) -> FeedReport:
    return _feed("feed_c", task, tools)


def report(task: ReportInput, tools: ToolBox) -> ThreatReport:
    """Pure logic on the merged indicators: no tools, so no text it reads can make it act."""
    indicators = [Indicator.model_validate(item) for item in task.intel.items]
    rank = {severity: place for place, severity in enumerate(SEVERITIES)}
    indicators.sort(key=lambda i: (-rank[i.severity], i.indicator))
    counts = Counter(i.severity for i in indicators)
    return ThreatReport(
        scope=task.scope,
        indicators=indicators,
        by_severity={severity: counts.get(severity, 0) for severity in SEVERITIES},
        feeds_answered=task.intel.succeeded,
        feeds_failed=task.intel.failed,
        partial=task.intel.partial,
        conflicts=len(task.intel.conflicts),
    )
