"""An agent function's side of an inline stage: a transient attempt before the last becomes a TransientAttempt error
whose message is its report, small enough for an error's cause; every report fits the stage's report limit."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from pydantic import BaseModel, ConfigDict

from baton.agent_runner import TRANSIENT_REPORT_BYTES, AgentRunner, TransientAttempt
from baton.catalog import AgentSpec, Catalog, SideEffect, ToolSpec, WorkflowSpec, build_catalog
from baton.models import AgentRequest, JournalEntry, TaskInput, TaskStatus
from baton.tools import RetryableToolError, ToolBox, ToolContext

RUN_ID = "flaky_20260101T000000-000000000001"


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str


class Done(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str


class PingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


def ping(args: PingArgs, ctx: ToolContext) -> str:
    raise RetryableToolError("the service answered 503")


def flaky(task: Job, tools: ToolBox) -> Done:
    """Calls its tool with a long argument many times (job "many": as many as a task may, too many for an error's
    cause), swallowing the transient errors, then gives up."""
    for _ in range(49 if task.job_id == "many" else 20):
        try:
            tools.call("ping", text="x" * 2_000)
        except RetryableToolError:
            continue
    tools.call("ping", text="last")
    return Done(note="unreachable")


def steady(task: Job, tools: ToolBox) -> Done:
    return Done(note="y" * 40_000)


def _agent(name: str) -> AgentSpec:
    return AgentSpec(
        name=name,
        description=f"the {name} agent",
        implementation=f"tests.unit.test_agent_runner_inline:{name}",
        input_model=Job,
        output_model=Done,
        tools=("ping",),
    )


CATALOG: Catalog = build_catalog(
    resources=[],
    tools=[
        ToolSpec(
            name="ping",
            description="ping a flaky service",
            implementation="tests.unit.test_agent_runner_inline:ping",
            arguments=PingArgs,
            side_effect=SideEffect.READ,
            output_trusted=True,
        )
    ],
    agents=[_agent("flaky"), _agent("steady")],
    workflows=[
        WorkflowSpec(name="flaky", description="flaky", input_model=Job, planner="x.y:Z", agents=("flaky", "steady"))
    ],
)


class _Context:
    """What the ping tool is given: it reaches nothing (it fails before)."""

    idempotency_key = ""


def _run(agent: str, attempt: int, job: str = "J-1", **inline: Any) -> Any:
    runner = AgentRunner(CATALOG, CATALOG.agents[agent], lambda spec, run_id: cast(ToolContext, _Context()))
    task = TaskInput(agent=agent, key=agent, payload={"job_id": job}, untrusted_keys=[])
    request = AgentRequest(run_id=RUN_ID, stage=1, index=0, attempt=attempt, task_json=task.model_dump_json(), **inline)
    return runner.run(request)


def test_a_transient_attempt_before_the_last_raises_with_its_report_trimmed_to_fit_an_error_cause() -> None:
    # Given an inline task whose attempt ends in a retryable error after many large tool calls
    # When its first of three attempts runs
    with pytest.raises(TransientAttempt) as raised:
        _run("flaky", 1, max_attempts=3, report_limit=100_000)
    # Then the error's message is the attempt's report, small enough for Step Functions' error cause once escaped
    report = str(raised.value)
    assert len(json.dumps({"errorMessage": report})) < 32_768
    assert len(report.encode()) <= TRANSIENT_REPORT_BYTES
    entry = JournalEntry.model_validate_json(report)
    assert (entry.attempt, entry.status, entry.error_type) == (1, TaskStatus.FAILED, "RetryableToolError")
    assert len(entry.tool_calls) == 21  # every call kept, their arguments dropped to fit
    assert all(c.arguments == {} for c in entry.tool_calls)


def test_the_last_attempt_of_an_inline_task_is_reported_not_raised() -> None:
    result = _run("flaky", 3, max_attempts=3, report_limit=100_000)
    entry = JournalEntry.model_validate_json(result.entry_json)
    assert (entry.attempt, entry.status, result.retry) == (3, TaskStatus.FAILED, True)


def test_a_task_by_reference_reports_a_transient_attempt_for_the_state_machine_to_retry() -> None:
    # Given the same attempt in a stage that travels by reference (no max_attempts) / Then it is reported, not raised
    result = _run("flaky", 1)
    assert result.retry


def test_an_inline_report_over_its_limit_keeps_its_outcomes_and_fails_the_task() -> None:
    # Given an output within the agent's own limit but over the report limit the stage could give it
    result = _run("steady", 1, max_attempts=3, report_limit=20_000)
    # Then the report fits the limit: the task failed as too large, never an oversized payload
    assert len(result.entry_json.encode()) <= 20_000
    entry = JournalEntry.model_validate_json(result.entry_json)
    assert (entry.status, entry.error_type, entry.output) == (TaskStatus.FAILED, "AgentReportTooLarge", None)


def test_a_transient_attempt_whose_calls_cannot_fit_an_error_cause_is_reported_whole_not_retried() -> None:
    # Given an inline task's first attempt that made the most calls a task may (50), too many for an error's cause
    # even without their arguments
    # When it runs / Then it is reported as the task's last attempt, with every call it made (nothing cut off)
    result = _run("flaky", 1, job="many", max_attempts=3, report_limit=100_000)
    entry = JournalEntry.model_validate_json(result.entry_json)
    assert (entry.attempt, entry.status, result.retry) == (1, TaskStatus.FAILED, True)
    assert len(entry.tool_calls) == 50
