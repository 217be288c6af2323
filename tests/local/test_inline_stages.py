"""Inline stages: a small stage's tasks travel in the execution's state and its agents' reports come back in it,
four state transitions per task; a run whose execution runs the definition from before them still finishes.

Its own module: one test replaces the relay state machine's definition, and moto is process-wide.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from baton.local.engine import LocalEngine
from baton.local.functions import orchestrator_function_name
from baton.local.provisioning import STATE_TABLE
from baton.models import RunStatus, TaskStatus
from baton.statemachine import DEFINITION_FILE, render_definition_text
from baton.verification import verify_record

# the definition every deployment ran before inline stages (what an execution started before the update keeps)
DEFINITION_BEFORE_INLINE = Path(__file__).with_name("orchestration_before_inline.asl.json")


def _states_entered(engine: LocalEngine, run_id: str) -> Counter[str]:
    history = engine.clients.client("stepfunctions").get_execution_history(
        executionArn=engine.execution_arn(run_id), maxResults=1000
    )["events"]
    return Counter(e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered"))


def _journal(engine: LocalEngine, run_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = engine.clients.client("dynamodb").query(
        TableName=STATE_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"JOURNAL#{run_id}"}},
    )["Items"]
    return items


def test_a_small_stage_runs_inline_in_four_transitions_per_task_and_journals_nothing(engine: LocalEngine) -> None:
    # Given the relay workflow (one agent task per stage) / When a run goes through
    record = engine.run("relay", {"item_id": "IT-1"}, timeout_seconds=60)
    # Then every stage ran inline: per task the Map, its one agent invocation, the Plan it reports to and the Route
    assert record.status is RunStatus.SUCCEEDED, record.reason
    entered = _states_entered(engine, record.run_id)
    tasks = len(record.steps)
    assert tasks >= 2
    assert entered["DelegateInline"] == entered["RunAgentInline"] == entered["PlanReported"] == tasks
    assert entered["Delegate"] == entered["LoadTask"] == entered["RecordAttempt"] == 0
    # ... no report was written to the state table: the orchestrator folded them from its request, audited as before
    assert _journal(engine, record.run_id) == []
    assert [r["kind"] for r in record.audit].count("task_succeeded") == tasks
    verification = verify_record(record.model_dump(mode="json"), engine.public_key("relay"))
    assert verification.ok, verification.problems


def test_a_run_whose_execution_runs_the_definition_before_inline_stages_still_finishes(engine: LocalEngine) -> None:
    # Given the relay state machine back on the definition it had before inline stages (an execution started before
    # the update keeps its definition, and its Plan states send no `definition`)
    sfn, lambdas = engine.clients.client("stepfunctions"), engine.clients.client("lambda")
    orchestrator = lambdas.get_function(FunctionName=orchestrator_function_name("relay"))["Configuration"]
    before = render_definition_text(
        DEFINITION_BEFORE_INLINE.read_text(),
        {"OrchestratorFunctionArn": orchestrator["FunctionArn"], "StateTableName": STATE_TABLE},
    )
    assert "DelegateInline" not in before
    assert "definition" not in json.loads(before)["States"]["Plan"]["Parameters"]
    current = sfn.describe_state_machine(stateMachineArn=engine.state_machines["relay"])["definition"]
    sfn.update_state_machine(stateMachineArn=engine.state_machines["relay"], definition=before)
    try:
        # When a run goes through it on this orchestrator
        record = engine.run("relay", {"item_id": "IT-1"}, timeout_seconds=60)
    finally:
        sfn.update_state_machine(stateMachineArn=engine.state_machines["relay"], definition=current)
    # Then it finishes as it did then: each task read from its item, each report journaled, the chain verified
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert all(s.status is TaskStatus.SUCCEEDED for s in record.steps)
    entered = _states_entered(engine, record.run_id)
    assert entered["LoadTask"] == entered["RecordAttempt"] == len(record.steps)
    assert len(_journal(engine, record.run_id)) == len(record.steps)
    verification = verify_record(record.model_dump(mode="json"), engine.public_key("relay"))
    assert verification.ok, verification.problems


def test_plan_reported_is_plan_with_the_reports_and_nothing_else() -> None:
    # Given the two states that invoke the orchestrator to plan (PlanReported exists only because `$.reports` does
    # not exist before an inline stage) / Then they differ in the reports they pass, and their comment, alone
    states = json.loads(DEFINITION_FILE.read_text())["States"]
    plan, reported = dict(states["Plan"]), dict(states["PlanReported"])
    payload = dict(reported["Parameters"]["Payload"])
    assert payload.pop("reports.$") == "$.reports"
    reported["Parameters"] = {**reported["Parameters"], "Payload": payload}
    plan.pop("Comment")
    reported.pop("Comment")
    assert reported == plan


def test_an_inline_attempt_is_retried_as_an_attempt_by_reference_is() -> None:
    # Given the Map of each kind / Then the agent's invocation is retried alike, and a transient attempt backs off alike
    states = json.loads(DEFINITION_FILE.read_text())["States"]
    inline = states["DelegateInline"]["ItemProcessor"]["States"]
    by_reference = states["Delegate"]["ItemProcessor"]["States"]
    assert inline["RunAgentInline"]["Retry"] == by_reference["RunAgent"]["Retry"]
    assert inline["NextInlineAttempt"]["Parameters"] == by_reference["NextAttempt"]["Parameters"]
