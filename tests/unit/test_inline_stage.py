"""Inline stages (the state machine's DelegateInline): when the orchestrator answers a stage inline, what it hands
the Map and keeps, and how it folds the reports that come back in the next Plan's request, forged ones included.
On the in-memory store, the state machine's part played by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.models import (
    INLINE_DEFINITION,
    Delegate,
    Finish,
    InlineTaskReport,
    JournalEntry,
    PlanRequest,
    PlanResponse,
    Task,
    TaskStatus,
)
from baton.orchestrator import INLINE_STAGE_BYTES, REPORT_HEADROOM_BYTES, ForeignExecution
from tests.unit.harness import FOUND, Harness, Scripted, call, execution_of

READ = Delegate(tasks=[Task(agent="reader")])


def plan(
    h: Harness, run_id: str, stage: int, reports: list[dict[str, Any]] | None = None, **request: Any
) -> PlanResponse:
    """A Plan as the current definition sends it (PlanReported when `reports` is given)."""
    return h.orchestrator.plan(
        PlanRequest.model_validate(
            {
                "run_id": run_id,
                "stage": stage,
                "execution": execution_of(run_id, h.workflow),
                "definition": INLINE_DEFINITION,
                **({} if reports is None else {"reports": reports}),
                **request,
            }
        )
    )


def entry(
    h: Harness,
    run_id: str,
    stage: int,
    index: int,
    attempt: int = 1,
    claims: dict[str, Any] | None = None,
    **fields: Any,
) -> str:
    """An agent's report of one attempt, as its function returns it (`claims`: what a forged one says instead)."""
    values: dict[str, Any] = {
        "stage": stage,
        "index": index,
        "attempt": attempt,
        "agent": h.task(run_id, stage, index).agent,
        "status": TaskStatus.SUCCEEDED,
        "started_at": "2026-11-25T00:00:00Z",
        "ended_at": "2026-11-25T00:00:01Z",
        "output": FOUND,
        "output_trusted": True,
    }
    return JournalEntry.model_validate(values | fields | (claims or {})).model_dump_json()


def transient(report: str) -> str:
    """A TransientAttempt error's cause, as Lambda reports an error raised by the handler."""
    return json.dumps({"errorType": "TransientAttempt", "errorMessage": report, "stackTrace": []})


def test_a_small_stage_is_answered_inline_with_its_inputs_which_the_run_record_does_not_keep_twice() -> None:
    # Given a run whose execution runs the current definition / When its first stage is planned
    h = Harness(Scripted(READ))
    run_id = h.start()
    response = plan(h, run_id, 0)
    # Then the answer carries the task's input, and room for a report of the agent's largest output and more
    assert response.inline
    assert [json.loads(t) for t in response.task_json] == [json.loads(h.store.task_json(run_id, 1, 0))]
    assert response.report_limit >= h.catalog.agents["reader"].max_output_bytes + REPORT_HEADROOM_BYTES
    # ... the run record keeps the answer without the inputs (they are the stage's TASK# items)
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert meta.last_plan is not None
    assert meta.last_plan.inline
    assert meta.last_plan.task_json == []
    # ... and a replayed Plan (its answer lost) gets the whole answer again, without planning again
    assert plan(h, run_id, 0) == response
    assert h.planner.decisions == []


def test_an_execution_of_the_definition_before_inline_stages_is_answered_by_reference() -> None:
    # Given an execution started before the update: its Plan states send no definition
    h = Harness(Scripted(READ))
    run_id = h.start()
    # When its first stage is planned / Then the Map it runs reads the task from the table, as before
    response = h.plan(run_id, 0)
    assert (response.kind, response.inline, response.task_json) == ("delegate", False, [])


def test_a_stage_whose_reports_could_outgrow_the_payload_travels_by_reference() -> None:
    # Given a stage of three agents whose outputs may each take 64 KB: 3 x (64 KB + headroom) > INLINE_STAGE_BYTES
    tasks = [Task(agent="rater", key=f"rating_{i}") for i in range(3)]
    h = Harness(Scripted(Delegate(tasks=tasks)), "fanout")
    run_id = h.start({"item_id": "IT-1"})
    assert 3 * (h.catalog.agents["rater"].max_output_bytes + REPORT_HEADROOM_BYTES) > INLINE_STAGE_BYTES
    # When it is planned / Then it is not inline
    response = plan(h, run_id, 0)
    assert (response.kind, response.inline) == ("delegate", False)


def test_an_inline_stages_reports_are_folded_each_attempt_in_order_and_nothing_is_journaled() -> None:
    # Given an inline stage whose task had one transient attempt, then succeeded
    h = Harness(Scripted(READ, Finish(result={})))
    run_id = h.start()
    plan(h, run_id, 0)
    first = entry(
        h,
        run_id,
        1,
        0,
        attempt=1,
        status=TaskStatus.FAILED,
        output=None,
        tool_calls=[call("read_item", "error", item_id="IT-1")],
        error_type="RetryableToolError",
        error="RetryableToolError: the shop answered 503",
    )
    reports = [
        {
            "report": {"entry_json": entry(h, run_id, 1, 0, attempt=2)},
            "retried": {"cause": transient(first), "earlier": []},
        }
    ]
    # When PlanReported brings them
    response = plan(h, run_id, 1, reports)
    # Then the task succeeded after two attempts, its output is in the context, both attempts' calls are audited
    assert response.kind == "finish"
    [step] = h.store.load_history(run_id)
    assert (step.status, step.attempts) == (TaskStatus.SUCCEEDED, 2)
    assert h.store.load_context(run_id)["reader"].value == FOUND
    calls = [r["detail"] for r in h.audit(run_id) if r["kind"] == "tool_call"]
    assert [(c["tool"], c["outcome"]) for c in calls] == [("read_item", "error")]
    assert h.store.load_journal(run_id) == []


def test_an_attempt_that_died_in_an_inline_stage_fails_the_task_with_its_error() -> None:
    h = Harness(Scripted(READ, Finish(result={})))
    run_id = h.start()
    plan(h, run_id, 0)
    reports = [
        {"attempt": 1, "error": "Sandbox.Timedout", "cause": "Task timed out after 30.00 seconds", "retried": []}
    ]
    plan(h, run_id, 1, reports)
    [step] = h.store.load_history(run_id)
    assert (step.status, step.error_type) == (TaskStatus.FAILED, "Sandbox.Timedout")
    assert "reader" not in h.store.load_context(run_id)


@pytest.mark.attack("ASI06")
@pytest.mark.parametrize(
    ("forged", "why"),
    [
        ({"index": 1}, "another task's index"),
        ({"attempt": 2}, "an attempt number the state machine did not count"),
        ({"agent": "payer"}, "another agent"),
        ({"stage": 2}, "another stage"),
    ],
)
def test_an_inline_report_claiming_to_be_another_tasks_attempt_is_refused_and_audited(
    forged: dict[str, Any], why: str
) -> None:
    # Given an inline stage whose agent reports an attempt that is not the one it ran (why)
    h = Harness(Scripted(READ, Finish(result={})))
    run_id = h.start()
    plan(h, run_id, 0)
    reports = [{"report": {"entry_json": entry(h, run_id, 1, 0, claims=forged)}, "retried": []}]
    # When PlanReported brings it / Then the report is not believed: the task failed, its output unused, audited
    plan(h, run_id, 1, reports)
    [step] = h.store.load_history(run_id)
    assert (step.status, step.error_type) == (TaskStatus.FAILED, "AgentReportInvalid"), why
    assert "reader" not in h.store.load_context(run_id)
    assert "anomaly" in h.kinds(run_id)


@pytest.mark.attack("ASI06")
def test_a_transient_cause_that_is_not_a_report_fails_its_attempt_and_is_never_believed() -> None:
    # Given a transient attempt whose cause is no report (truncated, or forged text), then a failed last attempt
    h = Harness(Scripted(READ, Finish(result={})))
    run_id = h.start()
    plan(h, run_id, 0)
    last = entry(h, run_id, 1, 0, attempt=2, status=TaskStatus.FAILED, output=None, error_type="E", error="E: no")
    reports = [
        {"report": {"entry_json": last}, "retried": {"cause": '{"errorMessage": "{\\"output\\":', "earlier": []}}
    ]
    plan(h, run_id, 1, reports)
    [step] = h.store.load_history(run_id)
    assert (step.status, step.attempts) == (TaskStatus.FAILED, 2)
    assert "reader" not in h.store.load_context(run_id)


@pytest.mark.attack("ASI08")
def test_reports_brought_by_another_execution_are_refused_and_audited() -> None:
    # Given an inline stage of a run / When another execution sends reports for it
    h = Harness(Scripted(READ, Finish(result={})))
    run_id = h.start()
    plan(h, run_id, 0)
    reports = [{"report": {"entry_json": entry(h, run_id, 1, 0)}, "retried": []}]
    with pytest.raises(ForeignExecution):
        plan(h, run_id, 1, reports, execution=execution_of(run_id) + "-other")
    # Then nothing of them was folded, and the attempt is in the chain
    assert h.store.load_history(run_id) == []
    assert "anomaly" in h.kinds(run_id)


def test_the_transient_attempts_the_state_machine_nests_are_read_oldest_first() -> None:
    # Given what KeepTransient builds over two transient attempts (it can only nest the earlier ones)
    report = InlineTaskReport.model_validate(
        {"report": {"entry_json": "{}"}, "retried": {"cause": "second", "earlier": {"cause": "first", "earlier": []}}}
    )
    # Then they are read in the order they ran
    assert report.transient_causes() == ["first", "second"]
