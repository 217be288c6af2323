"""The one generic agent runtime: validate the task, run with allowlisted tools, validate, report.

An agent function touches no run state: the state machine hands it its task (read from the state table by
the state machine itself) and records the report it returns. So an agent's role needs nothing on the state
table, and an agent can neither read other runs' inputs nor write anything but its own current attempt.

A coded agent runs its implementation; a model-backed agent (AgentSpec.model) runs Baton's Converse tool-use
loop (baton.ai.agent) in its place, over the same toolbox, and reports what its model calls spent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from baton.catalog import AgentSpec, Catalog, ToolSpec, resolve
from baton.clock import now_iso
from baton.egress import HttpError
from baton.observability import logger
from baton.redaction import REDACTOR
from baton.task_models import AgentRequest, AgentResult, JournalEntry, ModelUsage, TaskInput, TaskStatus, invalid_fields
from baton.tools import (
    AgentError,
    AgentTaskFailed,
    ApprovalRequired,
    RetryableAgentError,
    RetryableToolError,
    ToolBox,
    ToolContext,
)

if TYPE_CHECKING:
    from baton.ai.agent import Conversation, ModelAgent
    from baton.policy import PolicyEngine

# An agent implementation: validated input model and its toolbox in, output model out.
AgentImplementation = Callable[[Any, ToolBox], BaseModel]

_RETRYABLE = (RetryableAgentError, RetryableToolError, HttpError)
# Step Functions carries the report in a 256 KB payload, with the task's other fields beside it
MAX_REPORT_BYTES = 240_000
MAX_ERROR_CHARS = 1_000
# a transient attempt of an inline stage travels as an error's cause (at most 32,768 characters, the report
# JSON-escaped inside the Lambda error object): its report is trimmed to this first
TRANSIENT_REPORT_BYTES = 12_000


class TransientAttempt(Exception):
    """An inline stage's attempt the agent reports as transient, before its last: the state machine keeps its report
    (this error's message) and retries the task (DelegateInline)."""


class AgentInputInvalid(AgentError):
    pass


class AgentOutputInvalid(AgentError):
    pass


class TaskMisdelivered(AgentError):
    """A task for another agent reached this function."""


class AgentRunner:
    """Runs one agent's attempts. A model-backed agent needs `bedrock_runtime`: a factory of its bedrock-runtime
    client, called at its first model call."""

    def __init__(
        self,
        catalog: Catalog,
        agent: AgentSpec,
        make_context: Callable[[ToolSpec, str], ToolContext],
        bedrock_runtime: Callable[[], Any] | None = None,
    ) -> None:
        self._catalog = catalog
        self._agent = agent
        self._make_context = make_context
        self._implementation: AgentImplementation | None = None
        self._model: ModelAgent | None = None
        self._policies: PolicyEngine | None = None
        if agent.implementation is not None:
            self._implementation = resolve(agent.implementation)
        else:
            from baton.ai.agent import ModelAgent  # only a model-backed agent's function loads the loop

            if bedrock_runtime is None:
                raise ValueError(f"agent {agent.name!r} is model-backed: its runner needs a bedrock-runtime client")
            self._model = ModelAgent(catalog, agent, bedrock_runtime)
        if agent.policies is not None:  # only a function under policies loads the Cedar engine
            from baton.policy import PolicyEngine

            self._policies = PolicyEngine(catalog, agent)

    def run(self, request: AgentRequest) -> AgentResult:
        """Run one attempt and report it; a failure is a report too (only a crash raises, and, in an inline stage,
        a transient attempt before the last: TransientAttempt, carrying its report)."""
        started_at = now_iso()
        task: TaskInput | None = None
        toolbox: ToolBox | None = None
        conversation: list[Conversation] = []  # a model-backed agent's, once it has begun
        output: dict[str, Any] | None = None
        error: Exception | None = None
        try:
            task = self._task(request)
            toolbox = ToolBox(
                self._agent,
                self._catalog,
                lambda spec: self._make_context(spec, request.run_id),
                inputs_trusted=not task.untrusted_keys,
                policies=self._policies,
                grants=task.grants,
                prior_calls=task.prior_calls,
                flagged=bool(task.flagged_keys),
                call_scope=f"{request.run_id}#{request.stage}#{request.index}",
            )
            output = self._attempt(task, toolbox, conversation)
        except Exception as caught:  # every failure of the attempt is reported, with its class as the type
            error = caught
        denied = toolbox is not None and toolbox.denied
        # a call held for a person (and no denial): the attempt waits for approval, neither failed nor retried
        pending = toolbox.pending if toolbox is not None and not denied else None
        if pending is not None:
            error, output = None, None
        retry = error is not None and isinstance(error, _RETRYABLE) and not denied
        status = TaskStatus.NEEDS_APPROVAL if pending is not None else TaskStatus.SUCCEEDED
        entry = JournalEntry(
            stage=request.stage,
            index=request.index,
            attempt=request.attempt,
            agent=self._agent.name,
            status=TaskStatus.FAILED if error is not None else status,
            started_at=started_at,
            ended_at=now_iso(),
            output=output,
            output_trusted=toolbox is not None and toolbox.output_trusted,
            tool_calls=toolbox.records if toolbox is not None else [],
            # what the model calls spent, whatever the outcome (the orchestrator settles it into the run's usage)
            model_usage=conversation[0].usage if conversation else ModelUsage(),
            error_type=None if error is None else type(error).__name__,
            error=None if error is None else f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS],
            pending_approval=pending,
        )
        if pending is not None:
            logger.info("tool call held for approval", extra={"agent": self._agent.name, "tool": pending.tool})
        if error is not None:
            logger.warning("task attempt failed", extra={"agent": self._agent.name, "retryable": retry})
        limit = request.report_limit or MAX_REPORT_BYTES
        if retry and request.max_attempts is not None and request.attempt < request.max_attempts:
            transient = _report(entry, min(limit, TRANSIENT_REPORT_BYTES))
            if len(transient.encode()) <= TRANSIENT_REPORT_BYTES:
                raise TransientAttempt(transient)
            # even trimmed, its tool calls would not fit an error's cause, where a cut report is unreadable: the
            # attempt is reported whole as the task's last, so that every call it made reaches the audit
            logger.warning("transient attempt too large to retry inline", extra={"agent": self._agent.name})
        return AgentResult(entry_json=_report(entry, limit), retry=retry)

    def _task(self, request: AgentRequest) -> TaskInput:
        try:
            task = TaskInput.model_validate_json(request.task_json)
        except ValidationError as error:
            raise AgentInputInvalid(f"the task failed its model: {invalid_fields(error)}") from None
        if task.agent != self._agent.name:
            raise TaskMisdelivered(f"a task for agent {task.agent!r} reached agent {self._agent.name!r}")
        return task

    def _attempt(self, task: TaskInput, toolbox: ToolBox, conversation: list[Conversation]) -> dict[str, Any]:
        agent = self._agent
        try:
            agent_input = agent.input_model.model_validate(task.payload)
        except ValidationError as error:
            raise AgentInputInvalid(f"input failed {agent.input_model.__name__}: {invalid_fields(error)}") from None
        if self._model is not None:
            conversation.append(self._model.conversation(task, toolbox))
            output = conversation[0].run(agent_input)
        else:
            output = cast("AgentImplementation", self._implementation)(agent_input, toolbox)
        if toolbox.denied:
            # the agent may have caught the denial; the task fails all the same
            raise AgentTaskFailed("a tool call was denied during this task")
        if toolbox.pending is not None:  # the agent may have caught it too: the task waits all the same
            raise ApprovalRequired(toolbox.pending)
        try:
            dumped = output.model_dump(mode="json") if isinstance(output, BaseModel) else output
            validated = agent.output_model.model_validate(dumped)
        except ValidationError as error:
            raise AgentOutputInvalid(f"output failed {agent.output_model.__name__}: {invalid_fields(error)}") from None
        result: dict[str, Any] = validated.model_dump(mode="json")
        size = len(json.dumps(result).encode())
        if size > agent.max_output_bytes:
            raise AgentOutputInvalid(f"output of {size} bytes exceeds the agent's limit of {agent.max_output_bytes}")
        return result


def _redacted(entry: JournalEntry) -> str:
    """The report as JSON, with secret values masked after serialization (escaped forms included)."""
    return JournalEntry.model_validate(REDACTOR.redact_json(entry.model_dump(mode="json"))).model_dump_json()


def _report(entry: JournalEntry, limit: int) -> str:
    text = _redacted(entry)
    if len(text.encode()) <= limit:
        return text
    # only tool-call records can push a report past its limit: keep their outcomes, drop their arguments
    trimmed = entry.model_copy(
        update={"tool_calls": [c.model_copy(update={"arguments": {}}) for c in entry.tool_calls], "output": None}
    )
    if entry.status is TaskStatus.SUCCEEDED:
        trimmed = trimmed.model_copy(
            update={
                "status": TaskStatus.FAILED,
                "error_type": "AgentReportTooLarge",
                "error": "the report was too large",
            }
        )
    return _redacted(trimmed)
