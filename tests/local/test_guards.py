"""Every guard, end to end on the real state machine: fail closed, deny, reject, and audit it all."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from baton.local.engine import LocalEngine
from baton.models import RunStatus, TaskStatus
from baton.observability import logger
from baton.runs import RunRecord
from baton.verification import verify_record
from tests.local import rogue


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.local.rogue:CATALOG") as local:
        yield local


@pytest.fixture(autouse=True)
def _reset_tool_runs() -> None:
    rogue.TOOL_RUNS.clear()


def run(engine: LocalEngine, scenario: str) -> RunRecord:
    record = engine.run("rogue", {"scenario": scenario}, timeout_seconds=30)
    verification = verify_record(record.model_dump(mode="json"), engine.public_key("rogue"))
    assert verification.ok, verification.problems
    return record


def kinds(record: RunRecord) -> list[str]:
    return [str(r["kind"]) for r in record.audit]


@pytest.mark.attack("ASI05")
def test_a_planner_naming_an_unknown_agent_fails_the_run_closed(engine: LocalEngine) -> None:
    # Given a planner that delegates to an agent no catalog declares
    record = run(engine, "unknown_agent")
    # Then nothing is delegated, the run fails, and the denial is the audit record before the failure
    assert record.status is RunStatus.FAILED
    assert "ghost" in (record.reason or "")
    assert record.steps == []
    assert kinds(record)[-3:] == ["denial", "decision", "run_failed"]
    assert "delegation" not in kinds(record)


def test_a_planner_naming_an_agent_outside_its_workflow_fails_closed(engine: LocalEngine) -> None:
    # Given an agent that exists in the catalog but not in this workflow
    record = run(engine, "outside_workflow")
    assert record.status is RunStatus.FAILED
    assert "bystander" in (record.reason or "")
    assert "denial" in kinds(record)


def test_a_tool_outside_the_allowlist_is_denied_audited_and_fails_the_task(engine: LocalEngine) -> None:
    # Given an agent calling a tool its spec does not list, and swallowing the denial
    record = run(engine, "off_allowlist")
    # Then the tool never ran, the task failed anyway, and the denial is in the audit trail
    assert rogue.TOOL_RUNS == []
    assert [(s.agent, s.status) for s in record.steps] == [("snooper", TaskStatus.FAILED)]
    denials = [r for r in record.audit if r["kind"] == "denial"]
    assert [(d["actor"], d["detail"]["tool"]) for d in denials] == [("snooper", "read_thing")]
    assert record.steps[0].attempts == 1  # a denial is permanent: never retried


def test_invalid_tool_arguments_are_rejected_before_the_tool_runs(engine: LocalEngine) -> None:
    record = run(engine, "bad_arguments")
    assert rogue.TOOL_RUNS == []
    assert record.steps[0].status is TaskStatus.FAILED
    assert "thing_id" in (record.steps[0].error or "")
    calls = [r["detail"] for r in record.audit if r["kind"] == "tool_call"]
    assert [(c["tool"], c["outcome"]) for c in calls] == [("read_thing", "invalid_arguments")]


def test_an_agent_output_failing_its_model_fails_the_task(engine: LocalEngine) -> None:
    record = run(engine, "bad_output")
    step = record.steps[0]
    assert step.status is TaskStatus.FAILED
    assert step.error_type == "AgentOutputInvalid"
    assert "liar" not in record.context  # nothing unvalidated reaches shared state


def test_a_secret_never_appears_in_errors_audit_records_outputs_or_logs(engine: LocalEngine) -> None:
    # Given a tool that puts the secret value into an exception message
    secret = engine.secret_value("vault_key")
    stream = io.StringIO()
    handler: Any = logger.registered_handler
    previous = handler.setStream(stream)
    try:
        record = run(engine, "leak_secret")
    finally:
        handler.setStream(previous)
    # Then the task failed, but the value is masked everywhere it could have surfaced
    assert record.steps[0].status is TaskStatus.FAILED
    assert "***" in (record.steps[0].error or "")
    everything = json.dumps(record.model_dump(mode="json")) + stream.getvalue()
    assert stream.getvalue(), "the run logged nothing: the check would be vacuous"
    assert secret not in everything
    # ... and in the agent's report, which an inline stage carries in the execution's state (its history)
    history = engine.clients.client("stepfunctions").get_execution_history(
        executionArn=engine.execution_arn(record.run_id), maxResults=1000
    )["events"]
    everything_run = json.dumps(history, default=str)
    assert "entry_json" in everything_run, "no report in the execution's history: the check would be vacuous"
    assert secret not in everything_run
