"""The one generic agent runtime: load the task, validate, run with allowlisted tools, validate, journal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from baton.catalog import AgentSpec, Catalog, ToolSpec, resolve
from baton.http import HttpError
from baton.models import AgentRequest, JournalEntry, TaskStatus, invalid_fields
from baton.observability import logger
from baton.redaction import REDACTOR
from baton.state import StateStore
from baton.tools import (
    AgentError,
    AgentTaskFailed,
    RetryableAgentError,
    RetryableToolError,
    ToolBox,
    ToolContext,
    now_iso,
)

# An agent implementation: validated input model and its toolbox in, output model out.
AgentImplementation = Callable[[Any, ToolBox], BaseModel]

_RETRYABLE = (RetryableAgentError, RetryableToolError, HttpError)


class AgentRunner:
    def __init__(
        self,
        catalog: Catalog,
        agent: AgentSpec,
        store: StateStore,
        make_context: Callable[[ToolSpec, str], ToolContext],
    ) -> None:
        self._catalog = catalog
        self._agent = agent
        self._store = store
        self._make_context = make_context
        self._implementation: AgentImplementation = resolve(agent.implementation)

    def run(self, request: AgentRequest) -> dict[str, str]:
        """Run one attempt. Returns a tiny receipt; the output goes to the journal, never into the payload."""
        started_at = now_iso()
        sort_key = f"{request.stage}#{request.index}#{started_at}#{uuid.uuid4()}"
        # only this agent's own task items exist for it to read (and its role allows nothing else)
        task = self._store.load_task(self._agent.name, request.run_id, request.stage, request.index)
        toolbox = ToolBox(
            self._agent,
            self._catalog,
            lambda spec: self._make_context(spec, request.run_id),
            inputs_trusted=not task.untrusted_keys,
        )

        def journal(status: TaskStatus, **fields: Any) -> None:
            entry = JournalEntry(
                stage=request.stage,
                index=request.index,
                agent=self._agent.name,
                status=status,
                started_at=started_at,
                ended_at=now_iso(),
                tool_calls=toolbox.records,
                output_trusted=toolbox.output_trusted,
                **fields,
            )
            self._store.put_journal(request.run_id, sort_key, entry, task.expires_at)

        try:
            output = self._attempt(task.payload, toolbox)
        except Exception as error:
            retryable = isinstance(error, _RETRYABLE) and not toolbox.denied
            message = REDACTOR.redact(f"{type(error).__name__}: {error}")[:1000]
            logger.warning("task attempt failed", extra={"agent": self._agent.name, "retryable": retryable})
            journal(TaskStatus.FAILED, error_type=type(error).__name__, error=message)
            raise (RetryableAgentError if retryable else AgentTaskFailed)(message) from None
        journal(TaskStatus.SUCCEEDED, output=output)
        return {"status": TaskStatus.SUCCEEDED.value}

    def _attempt(self, payload: dict[str, Any], toolbox: ToolBox) -> dict[str, Any]:
        agent = self._agent
        try:
            agent_input = agent.input_model.model_validate(payload)
        except ValidationError as error:
            raise AgentInputInvalid(f"input failed {agent.input_model.__name__}: {invalid_fields(error)}") from None
        output = self._implementation(agent_input, toolbox)
        if toolbox.denied:
            # the agent may have caught the denial; the task fails all the same
            raise AgentTaskFailed("a tool call was denied during this task")
        try:
            dumped = output.model_dump(mode="json") if isinstance(output, BaseModel) else output
            validated = agent.output_model.model_validate(dumped)
        except ValidationError as error:
            raise AgentOutputInvalid(f"output failed {agent.output_model.__name__}: {invalid_fields(error)}") from None
        result: dict[str, Any] = validated.model_dump(mode="json")
        return result


class AgentInputInvalid(AgentError):
    pass


class AgentOutputInvalid(AgentError):
    pass
