"""A concurrent stage's reconcile (baton.reconcile): the merge, the declared conflict rules, the checks at the guard,
and the fold recording the merged value with its provenance and binding it in the audit chain."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from baton.audit import GENESIS_HASH, AuditChain, AuditKind, digest, verify_chain
from baton.catalog import AgentSpec, Catalog, WorkflowSpec, build_catalog
from baton.fold import fold_stage
from baton.guard import guard
from baton.models import (
    Delegate,
    Highest,
    JournalEntry,
    Majority,
    Reconcile,
    RunStatus,
    Task,
    TaskInput,
    TaskStatus,
)
from baton.reconcile import Reconciled, StageResult, merge, reconcile_problem
from baton.store import RecordedAttempt, RunMeta

ORDER = ["low", "medium", "high", "critical"]
NOW = "2026-11-25T20:00:00+00:00"


def highest(**overrides: Any) -> Reconcile:
    return Reconcile(
        into="intel",
        items="indicators",
        key="indicator",
        on_conflict=Highest(field="severity", order=ORDER),
        **overrides,
    )


def majority(order: list[str] | None = None, **overrides: Any) -> Reconcile:
    rule = Majority(field="severity", order=order or [])
    return Reconcile(into="intel", items="indicators", key="indicator", on_conflict=rule, **overrides)


def feed(key: str, *records: tuple[str, str], trusted: bool = False) -> StageResult:
    indicators: list[JsonValue] = [{"indicator": i, "severity": s, "note": key} for i, s in records]
    return StageResult(key, TaskStatus.SUCCEEDED, {"indicators": indicators}, trusted)


def down(key: str) -> StageResult:
    return StageResult(key, TaskStatus.FAILED)


FEEDS = [
    feed("feed_a", ("203.0.113.7", "high"), ("evil.example.net", "critical"), ("198.51.100.23", "medium")),
    feed("feed_b", ("203.0.113.7", "low"), ("evil.example.net", "critical"), ("192.0.2.44", "high")),
    feed("feed_c", ("203.0.113.7", "low"), ("198.51.100.23", "medium")),
]


def severities(value: Reconciled) -> dict[str, JsonValue]:
    return {str(item["indicator"]): item["severity"] for item in value.items}


# ---------------------------------------------------------------- the merge


def test_records_are_deduplicated_by_their_key_and_each_source_is_named() -> None:
    merged, _ = merge(highest(), FEEDS)
    # four distinct indicators out of eight records, in key order
    assert [item["indicator"] for item in merged.items] == [
        "192.0.2.44",
        "198.51.100.23",
        "203.0.113.7",
        "evil.example.net",
    ]
    assert merged.sources == {
        "192.0.2.44": ["feed_b"],
        "198.51.100.23": ["feed_a", "feed_c"],
        "203.0.113.7": ["feed_a", "feed_b", "feed_c"],
        "evil.example.net": ["feed_a", "feed_b"],
    }
    assert (merged.partial, merged.enough, merged.failed) == (False, True, [])
    assert merged.succeeded == ["feed_a", "feed_b", "feed_c"]


def test_a_task_reporting_the_same_key_twice_counts_once_with_its_first_record() -> None:
    twice = feed("feed_a", ("203.0.113.7", "high"), ("203.0.113.7", "low"))
    merged, _ = merge(majority(), [twice, feed("feed_b", ("203.0.113.7", "low"))])
    # one vote each (not two for low): the tie goes to the task listed first
    assert severities(merged) == {"203.0.113.7": "high"}
    assert merged.conflicts[0].values == {"feed_a": "high", "feed_b": "low"}


def test_highest_takes_the_highest_severity_in_the_declared_order() -> None:
    merged, _ = merge(highest(), FEEDS)
    assert severities(merged)["203.0.113.7"] == "high"  # high, low, low: the highest wins
    # the conflict is listed with what each task said and what was chosen; agreement is no conflict
    assert [(c.key, c.field, c.values, c.chosen) for c in merged.conflicts] == [
        ("203.0.113.7", "severity", {"feed_a": "high", "feed_b": "low", "feed_c": "low"}, "high")
    ]
    # the merged record is the one that carries the chosen value (its other fields from that one task)
    assert next(i for i in merged.items if i["indicator"] == "203.0.113.7")["note"] == "feed_a"


def test_majority_takes_what_most_tasks_report() -> None:
    merged, _ = merge(majority(), FEEDS)
    assert severities(merged)["203.0.113.7"] == "low"  # high, low, low: two of three say low
    assert merged.conflicts[0].chosen == "low"
    assert next(i for i in merged.items if i["indicator"] == "203.0.113.7")["note"] == "feed_b"


def test_a_majority_tie_goes_to_the_highest_in_a_declared_order_else_to_the_first_task() -> None:
    tied = [feed("feed_a", ("x", "low")), feed("feed_b", ("x", "critical"))]
    assert severities(merge(majority(), tied)[0]) == {"x": "low"}
    assert severities(merge(majority(order=ORDER), tied)[0]) == {"x": "critical"}


def test_the_same_rule_decides_the_same_whatever_the_order_the_tasks_finished_in() -> None:
    forwards, _ = merge(highest(), FEEDS)
    backwards, _ = merge(highest(), list(reversed(FEEDS)))
    assert severities(forwards) == severities(backwards)


def test_a_value_the_order_does_not_rank_is_below_every_ranked_one() -> None:
    merged, _ = merge(highest(), [feed("feed_a", ("x", "unheard-of")), feed("feed_b", ("x", "low"))])
    assert severities(merged) == {"x": "low"}


def test_one_task_failed_the_value_is_partial_and_names_it() -> None:
    merged, _ = merge(highest(), [FEEDS[0], down("feed_b"), FEEDS[2]])
    assert (merged.partial, merged.enough) == (True, True)
    assert merged.failed == ["feed_b"]
    assert merged.succeeded == ["feed_a", "feed_c"]
    assert "192.0.2.44" not in severities(merged)  # only feed_b knew it


def test_fewer_than_min_succeeded_merges_nothing_and_says_why() -> None:
    merged, trusted = merge(highest(min_succeeded=2), [FEEDS[0], down("feed_b"), down("feed_c")])
    assert (merged.enough, merged.partial, merged.items) == (False, True, [])
    assert merged.failed == ["feed_b", "feed_c"]
    assert "1 of 3 tasks succeeded, fewer than the 2" in merged.reason
    # nothing any task produced is in it: the orchestrator's own facts, trusted, so a planner may fail on them
    assert trusted is True


def test_all_failed_is_not_enough() -> None:
    merged, _ = merge(highest(), [down("feed_a"), down("feed_b"), down("feed_c")])
    assert (merged.enough, merged.succeeded, merged.failed) == (False, [], ["feed_a", "feed_b", "feed_c"])


def test_the_merged_value_is_untrusted_if_any_output_it_came_from_was() -> None:
    trusted = [feed("a", ("x", "low"), trusted=True), feed("b", ("y", "low"), trusted=True)]
    assert merge(highest(), trusted)[1] is True
    assert merge(highest(), [trusted[0], feed("b", ("y", "low"), trusted=False)])[1] is False
    # a failed task's trust does not matter: nothing of it is merged
    assert merge(highest(), [trusted[0], StageResult("b", TaskStatus.FAILED, None, False)])[1] is True


def test_records_without_a_scalar_key_are_left_out() -> None:
    odd: StageResult = StageResult(
        "a", TaskStatus.SUCCEEDED, {"indicators": [{"severity": "low"}, {"indicator": ["x"]}, "text", {"indicator": 7}]}
    )
    merged, _ = merge(highest(), [odd])
    assert [item["indicator"] for item in merged.items] == [7]


def test_a_declaration_is_validated_as_declared() -> None:
    with pytest.raises(ValidationError):
        Reconcile.model_validate({"into": "intel", "items": "x", "key": "k", "on_conflict": {"rule": "loudest"}})
    with pytest.raises(ValidationError):  # highest needs its order
        Highest.model_validate({"field": "severity", "order": []})
    with pytest.raises(ValidationError):
        highest(min_succeeded=0)


# ---------------------------------------------------------------- the guard: checked against the workflow


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Indicator(Strict):
    indicator: str
    severity: Literal["low", "medium", "high", "critical"]


class FeedOutput(Strict):
    indicators: list[Indicator]


class OtherOutput(Strict):
    indicators: str


class RunInput(Strict):
    scope: str


class Empty(Strict):
    pass


def catalog(reconciled_keys: tuple[str, ...] = ("intel",)) -> tuple[Catalog, WorkflowSpec]:
    agents = [
        AgentSpec(name=name, description=name, implementation="x.y:z", input_model=Empty, output_model=output, tools=())
        for name, output in (("feed_a", FeedOutput), ("feed_b", FeedOutput), ("other", OtherOutput))
    ]
    workflow = WorkflowSpec(
        name="intel",
        description="d",
        input_model=RunInput,
        planner="x.y:Planner",
        agents=("feed_a", "feed_b", "other"),
        reconciled_keys=reconciled_keys,
    )
    built = build_catalog(resources=[], tools=[], agents=agents, workflows=[workflow])
    return built, built.workflows["intel"]


def stage(spec: Reconcile, *agents: str) -> Delegate:
    return Delegate(tasks=[Task(agent=a) for a in agents or ("feed_a", "feed_b")], reconcile=spec)


def test_the_guard_accepts_a_declaration_the_outputs_fit() -> None:
    built, workflow = catalog()
    guarded = guard(stage(highest()), workflow, 0, built)
    assert guarded.denial is None
    assert isinstance(guarded.decision, Delegate)
    assert guarded.decision.reconcile == highest()


@pytest.mark.parametrize(
    ("spec", "agents", "why"),
    [
        (highest().model_copy(update={"key": "ioc"}), (), "have no field 'ioc'"),
        (majority().model_copy(update={"on_conflict": Majority(field="score")}), (), "have no field 'score'"),
        (highest().model_copy(update={"items": "records"}), (), "has no list of records 'records'"),
        (highest(), ("feed_a", "other"), "agent 'other''s output has no list of records"),
        (highest(min_succeeded=3), (), "needs 3 tasks to succeed, but the stage has 2"),
        (highest().model_copy(update={"into": "feed_a"}), (), "does not declare reconciled"),
        (highest().model_copy(update={"into": "scope"}), (), "does not declare reconciled"),
        (
            highest().model_copy(update={"on_conflict": Highest(field="severity", order=["low", "high"])}),
            (),
            "does not rank 'severity' values ['critical', 'medium']",
        ),
        (
            highest().model_copy(update={"on_conflict": Highest(field="severity", order=["low", "low"])}),
            (),
            "repeats a value",
        ),
    ],
)
def test_the_guard_refuses_a_declaration_that_cannot_apply_to_the_stage(
    spec: Reconcile, agents: tuple[str, ...], why: str
) -> None:
    built, workflow = catalog()
    guarded = guard(stage(spec, *agents), workflow, 0, built)
    assert guarded.denial is not None
    assert why in guarded.denial
    assert guarded.decision.kind == "fail"


def test_a_key_the_workflow_declares_as_input_or_output_cannot_be_reconciled_into() -> None:
    built, workflow = catalog(reconciled_keys=("feed_a", "scope"))
    for into in ("feed_a", "scope"):
        problem = reconcile_problem(
            highest().model_copy(update={"into": into}), stage(highest()).tasks, workflow, built
        )
        assert problem is not None
        assert "a key of the stage's outputs or of the run's input" in problem


def test_a_task_that_is_no_agent_of_the_catalog_cannot_be_reconciled() -> None:
    # a child workflow's task (hierarchical orchestration) has no output model to check: refused, never a crash
    built, workflow = catalog()
    problem = reconcile_problem(highest(), [Task(agent="feed_a"), Task(agent="child-flow")], workflow, built)
    assert problem == "task 'child-flow' is not an agent: it has no output model to merge"


def test_without_the_catalog_a_reconciled_stage_is_refused() -> None:
    _, workflow = catalog()
    assert guard(stage(highest()), workflow, 0).denial is not None


def test_a_stage_without_a_declaration_is_guarded_as_before() -> None:
    built, workflow = catalog()
    plain = Delegate(tasks=[Task(agent="feed_a"), Task(agent="feed_b")])
    assert guard(plain, workflow, 0, built) == guard(plain, workflow, 0)
    assert plain.reconcile is None


# ---------------------------------------------------------------- the fold: recorded, with provenance, bound


def meta(spec: Reconcile | None) -> RunMeta:
    return RunMeta(
        run_id="intel_20261125T200000-000000000000",
        workflow="intel",
        status=RunStatus.RUNNING,
        version=1,
        stage=1,
        execution="arn:aws:states:us-east-1:123456789012:execution:m:intel_20261125T200000-000000000000",
        caller="c",
        audit_seq=0,
        audit_head=GENESIS_HASH,
        audit_signature="",
        audit_key_id="k",
        created_at=NOW,
        updated_at=NOW,
        expires_at=0,
        stage_reconcile=spec,
    )


def attempt(run: RunMeta, index: int, agent: str, output: dict[str, JsonValue] | None) -> RecordedAttempt:
    entry = JournalEntry(
        stage=1,
        index=index,
        attempt=1,
        agent=agent,
        status=TaskStatus.SUCCEEDED if output is not None else TaskStatus.FAILED,
        started_at=NOW,
        ended_at=NOW,
        output=output,
        output_trusted=True,
        error_type=None if output is not None else "FeedDown",
    )
    return RecordedAttempt(stage=1, index=index, attempt=1, execution=run.execution, entry_json=entry.model_dump_json())


def test_the_fold_records_the_merged_value_with_its_provenance_and_binds_it_in_the_chain() -> None:
    built, _ = catalog()
    run = meta(highest())
    tasks = {
        0: TaskInput(agent="feed_a", key="feed_a", payload={}, untrusted_keys=[]),
        1: TaskInput(agent="feed_b", key="feed_b", payload={}, untrusted_keys=["scope"]),  # tainted: untrusted output
    }
    a: dict[str, JsonValue] = {"indicators": [{"indicator": "x", "severity": "high"}]}
    b: dict[str, JsonValue] = {"indicators": [{"indicator": "x", "severity": "low"}]}
    chain = AuditChain(run.run_id, run.workflow, 0, GENESIS_HASH)
    fold = fold_stage(built, run, tasks, [attempt(run, 0, "feed_a", a), attempt(run, 1, "feed_b", b)], chain, NOW)
    entry = fold.context["intel"]
    value = Reconciled.model_validate(entry.value)
    assert severities(value) == {"x": "high"}
    assert (entry.source, entry.trusted, entry.stage) == ("reconcile", False, 1)  # feed_b's output was untrusted
    # each output is still recorded under its own key, as without a reconcile
    assert set(fold.context) == {"feed_a", "feed_b", "intel"}
    reconciled = [r for r in chain.records if r.kind is AuditKind.RECONCILED]
    assert len(reconciled) == 1
    assert reconciled[0].detail["value_hash"] == digest(entry.value)
    assert reconciled[0].detail["failed"] == []
    assert verify_chain([r.model_dump(mode="json") for r in chain.records], run.run_id, run.workflow) == []


def test_the_fold_names_the_failed_task_and_a_stage_without_a_declaration_records_no_merged_value() -> None:
    built, _ = catalog()
    tasks = {i: TaskInput(agent=a, key=a, payload={}, untrusted_keys=[]) for i, a in enumerate(("feed_a", "feed_b"))}
    a: dict[str, JsonValue] = {"indicators": [{"indicator": "x", "severity": "high"}]}
    for spec in (highest(), None):
        run = meta(spec)
        chain = AuditChain(run.run_id, run.workflow, 0, GENESIS_HASH)
        fold = fold_stage(
            built, run, tasks, [attempt(run, 0, "feed_a", a), attempt(run, 1, "feed_b", None)], chain, NOW
        )
        if spec is None:
            assert set(fold.context) == {"feed_a"}
            assert not [r for r in chain.records if r.kind is AuditKind.RECONCILED]
            continue
        value = Reconciled.model_validate(fold.context["intel"].value)
        assert (value.partial, value.failed, value.succeeded) == (True, ["feed_b"], ["feed_a"])
        assert fold.context["intel"].trusted is True  # both tasks were trusted here
        assert [o.status for o in fold.outcomes] == [TaskStatus.SUCCEEDED, TaskStatus.FAILED]
