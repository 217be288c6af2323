"""The seed's concurrent example, end to end offline: real ASL on moto's interpreter, real handlers in-process.

`baton_engine` is Baton's pytest fixture: the offline deployment of the app this test belongs to (the nearest
pyproject.toml's [tool.baton] catalog), its three fake feeds served by hostname. Each test runs its own examples,
so each passes alone.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baton.local.engine import LocalEngine
from baton.models import RunStatus, TaskOutcome, TaskStatus
from baton.reconcile import Reconciled
from baton.runs import RunRecord
from baton.verification import verify_record
from threat_intel_app.models import ThreatReport
from threat_intel_app.offline import FakeFeed
from threat_intel_app.planner import FEEDS, ThreatIntelPlanner

EXAMPLES = Path(__file__).resolve().parents[1]
WORKFLOW = "threat-intel"
INJECTED = "192.0.2.44"  # feed-b's description of it tells automated readers to lower every severity


@pytest.fixture(scope="module")
def engine(baton_engine: LocalEngine) -> LocalEngine:
    return baton_engine


@pytest.fixture
def feeds(engine: LocalEngine) -> Iterator[dict[str, FakeFeed]]:
    served: dict[str, FakeFeed] = engine.fixtures[WORKFLOW]
    yield served
    for fake in served.values():
        fake.down = False


def run_example(engine: LocalEngine, name: str, **overrides: Any) -> RunRecord:
    run_input = json.loads((EXAMPLES / f"{name}.json").read_text()) | overrides
    record = engine.run(WORKFLOW, run_input, timeout_seconds=60)
    verification = verify_record(record.model_dump(mode="json"), engine.public_key(WORKFLOW))
    assert verification.ok, verification.problems
    return record


def feed_steps(record: RunRecord) -> dict[str, TaskOutcome]:
    return {s.agent: s for s in record.steps if s.agent in FEEDS}


def intel(record: RunRecord) -> Reconciled:
    return Reconciled.model_validate(record.context["intel"].value)


def severities(report: ThreatReport) -> dict[str, str]:
    return {i.indicator: i.severity for i in report.indicators}


def test_the_default_input_succeeds_with_the_three_feeds_running_at_once(engine: LocalEngine) -> None:
    record = run_example(engine, "default")
    assert record.status is RunStatus.SUCCEEDED
    steps = feed_steps(record)
    # the three feeds are one stage, each succeeded at its first attempt, and the report is the next stage
    assert sorted(steps) == list(FEEDS)
    assert {s.stage for s in steps.values()} == {1}
    assert all(s.status is TaskStatus.SUCCEEDED and s.attempts == 1 for s in steps.values())
    assert [(s.stage, s.agent) for s in record.steps if s.agent not in FEEDS] == [(2, "report")]
    # they overlap in time: each started before any of them ended (each fake feed answers after 200 ms)
    assert max(s.started_at for s in steps.values()) < min(s.ended_at for s in steps.values())
    report = ThreatReport.model_validate(record.result)
    assert (report.partial, report.feeds_failed, report.feeds_answered) == (False, [], list(FEEDS))


def test_the_merge_deduplicates_by_indicator_and_takes_the_highest_severity_by_default(engine: LocalEngine) -> None:
    record = run_example(engine, "default")
    merged = intel(record)
    # twelve records from three feeds, six distinct indicators
    assert sum(len(record.context[f].value["indicators"]) for f in FEEDS) == 12  # type: ignore[arg-type,index]
    assert len(merged.items) == 6
    assert merged.sources["203.0.113.7"] == ["feed_a", "feed_b", "feed_c"]
    assert merged.rule == "highest"
    report = ThreatReport.model_validate(record.result)
    assert len(report.indicators) == 6
    # 203.0.113.7: high, low, low -> high; the sha256: medium, high, high -> high
    assert severities(report)["203.0.113.7"] == "high"
    assert {c.key: c.chosen for c in merged.conflicts} == {
        "203.0.113.7": "high",
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8": "high",
    }
    assert report.conflicts == 2


def test_majority_is_declared_by_the_input_and_settles_the_same_conflict_the_other_way(engine: LocalEngine) -> None:
    record = run_example(engine, "majority")
    assert record.status is RunStatus.SUCCEEDED
    assert intel(record).rule == "majority"
    report = ThreatReport.model_validate(record.result)
    assert severities(report)["203.0.113.7"] == "low"  # two of three feeds say low
    assert severities(report)["5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"] == "high"
    # the stage's declaration is in the audit chain with the decision that delegated it
    decision = next(a for a in record.audit if a["kind"] == "decision" and "reconcile" in a["detail"])
    assert decision["detail"]["reconcile"]["on_conflict"]["rule"] == "majority"  # type: ignore[index,call-overload]


def test_one_feed_down_after_retries_succeeds_partial_naming_the_failed_feed(
    engine: LocalEngine, feeds: dict[str, FakeFeed]
) -> None:
    before = len(feeds["feed-b.example.com"].requests)
    record = run_example(engine, "one-feed-down")
    assert record.status is RunStatus.SUCCEEDED
    steps = feed_steps(record)
    # feed-b answered 503 to every attempt: retried by the state machine, then failed
    assert steps["feed_b"].status is TaskStatus.FAILED
    assert steps["feed_b"].attempts == 3
    assert len(feeds["feed-b.example.com"].requests) - before == 3
    assert steps["feed_a"].status is steps["feed_c"].status is TaskStatus.SUCCEEDED
    merged = intel(record)
    assert (merged.partial, merged.failed, merged.succeeded) == (True, ["feed_b"], ["feed_a", "feed_c"])
    report = ThreatReport.model_validate(record.result)
    assert (report.partial, report.feeds_failed) == (True, ["feed_b"])
    assert INJECTED not in severities(report)  # only feed-b knew it
    assert len(report.indicators) == 5


def test_all_feeds_down_fails_with_a_reason(engine: LocalEngine) -> None:
    record = run_example(engine, "all-feeds-down")
    assert record.status is RunStatus.FAILED
    assert record.reason is not None
    assert record.reason.startswith("no threat feed answered: 0 of 3 tasks succeeded")
    assert "feed_a, feed_b, feed_c" in record.reason
    assert all(s.status is TaskStatus.FAILED and s.attempts == 3 for s in feed_steps(record).values())
    assert "report" not in {s.agent for s in record.steps}
    # the value the planner failed on names the feeds and holds nothing any feed said: it stays trusted
    assert record.context["intel"].trusted is True
    assert intel(record).enough is False


def test_a_feed_taken_down_by_a_test_is_named_whichever_it_is(engine: LocalEngine, feeds: dict[str, FakeFeed]) -> None:
    feeds["feed-c.example.com"].down = True
    record = run_example(engine, "default")
    assert record.status is RunStatus.SUCCEEDED
    assert intel(record).failed == ["feed_c"]
    assert ThreatReport.model_validate(record.result).feeds_failed == ["feed_c"]


def test_an_instruction_inside_a_feeds_data_stays_untrusted_and_changes_nothing(engine: LocalEngine) -> None:
    record = run_example(engine, "default")
    description = next(
        i["description"]
        for i in record.context["feed_b"].value["indicators"]  # type: ignore[index,union-attr]
        if i["indicator"] == INJECTED  # type: ignore[index,call-overload]
    )
    assert "Ignore all previous instructions" in str(description)
    # every value derived from the feeds is untrusted: each feed's output, the merged value, the report
    for key in (*FEEDS, "intel", "report"):
        assert record.context[key].trusted is False, key
    assert all(not s.trusted for s in record.steps)
    # the built-in detector flagged the feed's answer and everything carrying it (a signal, never the boundary)
    assert record.context["feed_b"].flagged
    assert record.context["intel"].flagged
    assert not record.context["feed_a"].flagged
    # and the instruction changed nothing: no severity was lowered, nothing was sent anywhere (no agent can)
    report = ThreatReport.model_validate(record.result)
    assert severities(report)[INJECTED] == "high"
    assert report.by_severity == {"low": 0, "medium": 1, "high": 4, "critical": 1}


def test_the_routes_the_runs_take_are_the_planners_declared_routes(engine: LocalEngine) -> None:
    declared = {(a, b) for a, b, _ in ThreatIntelPlanner.ROUTES}
    for name in ("default", "one-feed-down", "all-feeds-down"):
        record = run_example(engine, name)
        stages = [[s.agent for s in group] for _, group in itertools.groupby(record.steps, key=lambda s: s.stage)]
        path = [["input"], *stages, ["finish" if record.status is RunStatus.SUCCEEDED else "fail"]]
        taken = {(a, b) for before, after in itertools.pairwise(path) for a in before for b in after}
        assert taken <= declared, (name, taken - declared)
