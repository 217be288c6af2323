"""Runtime models: planner decisions, the run view planners read, and the payloads that cross boundaries.

Everything that crosses a trust boundary (Step Functions payloads, planner decisions, journal entries)
forbids extra fields, and is stored as JSON validated on the way back in: never pickle.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def invalid_fields(error: ValidationError) -> str:
    """The fields a validation error is about, never their values (which may be secret or hostile)."""
    return ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in error.errors())


# ---------------------------------------------------------------- planner decisions


class Task(Strict):
    """One unit of delegated work: an agent and (optionally) parameters and the context key for its output."""

    agent: str
    key: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_#.-]{0,63}$")
    params: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def output_key(self) -> str:
        return self.key or self.agent


class Delegate(Strict):
    """One stage: a single task is a sequential step; several run concurrently."""

    kind: Literal["delegate"] = "delegate"
    tasks: list[Task] = Field(min_length=1)
    reason: str = ""


class Finish(Strict):
    kind: Literal["finish"] = "finish"
    result: dict[str, JsonValue]


class Fail(Strict):
    kind: Literal["fail"] = "fail"
    reason: str


Decision = Annotated[Delegate | Finish | Fail, Field(discriminator="kind")]


# ---------------------------------------------------------------- what a planner sees


class TaskStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ContextEntry(Strict):
    """A value in the run's shared context, with where it came from."""

    value: JsonValue
    source: str  # "input" or the agent that produced it
    trusted: bool
    stage: int
    recorded_at: str


class TaskOutcome(Strict):
    stage: int
    index: int
    agent: str
    key: str
    status: TaskStatus
    attempts: int
    error_type: str | None = None
    error: str | None = None
    started_at: str
    ended_at: str


class RunView(Strict):
    """The run's state as the planner receives it (read-only)."""

    run_id: str
    workflow: str
    stage: int
    context: dict[str, ContextEntry]
    history: list[TaskOutcome]

    def value(self, key: str) -> JsonValue:
        entry = self.context.get(key)
        return None if entry is None else entry.value

    def latest(self, key: str) -> TaskOutcome | None:
        """The most recent outcome of the task whose output key is `key`."""
        for outcome in reversed(self.history):
            if outcome.key == key:
                return outcome
        return None


# ---------------------------------------------------------------- Step Functions contract


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class PlanRequest(Strict):
    """What the state machine sends the orchestrator: the run and the stage it has just finished."""

    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")
    stage: int = Field(ge=0)


class PlanResponse(Strict):
    """What the orchestrator returns to the state machine. Always small: tasks are indexes, data stays in DynamoDB."""

    run_id: str
    stage: int
    kind: Literal["delegate", "finish", "fail"]
    # delegate: the distinct agent functions of the stage, and per task the index of its function
    functions: list[str] = Field(default_factory=list)
    tasks: list[int] = Field(default_factory=list)
    max_concurrency: int = 1
    expires_at: int = 0
    reason: str = ""


class AgentRequest(Strict):
    """What the state machine sends an agent function: where its task lies in the state table."""

    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")
    stage: int = Field(ge=1)
    index: int = Field(ge=0)


CallOutcome = Literal["ok", "denied", "invalid_arguments", "error"]


class ToolCallRecord(Strict):
    tool: str
    outcome: CallOutcome
    at: str
    duration_ms: float
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    detail: str = ""


class TaskInput(Strict):
    """The task item the orchestrator writes for an agent: scoped context plus planner parameters."""

    agent: str
    key: str
    payload: dict[str, JsonValue]
    untrusted_keys: list[str]
    expires_at: int


class JournalEntry(Strict):
    """One attempt of a task, written by the agent (or by the state machine when the attempt crashed)."""

    stage: int
    index: int
    agent: str
    status: TaskStatus
    started_at: str
    ended_at: str
    output: dict[str, JsonValue] | None = None
    output_trusted: bool = True
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    error_type: str | None = None
    error: str | None = None
