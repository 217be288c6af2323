"""Runtime models: planner decisions, the run view planners read, and the payloads that cross boundaries.

Everything that crosses a trust boundary (Step Functions payloads, planner decisions, journal entries)
forbids extra fields, and is stored as JSON validated on the way back in: never pickle.
"""

# No `from __future__ import annotations` here: pydantic would then evaluate every field annotation from its string
# (a compile and an eval each: about 1.5 ms of a cold start per 30 models); forward references are quoted.

import json
from enum import StrEnum
from typing import Annotated, Literal, Protocol

from pydantic import Field, JsonValue

# the task's models: an agent function imports baton.task_models alone; the rest of Baton reads every model from
# here (__all__ below re-exports them, for type checkers too)
from baton.task_models import (
    AgentRequest,
    AgentResult,
    ApprovalGrant,
    CallOutcome,
    JournalEntry,
    ModelAllowance,
    ModelUsage,
    PendingCall,
    PolicyEffect,
    PriorCall,
    RunId,
    Sha256Hex,
    Strict,
    TaskInput,
    TaskStatus,
    ToolCallRecord,
    arguments_sha256,
    invalid_fields,
)

# ---------------------------------------------------------------- planner decisions


class Task(Strict):
    """One unit of delegated work: an agent and (optionally) parameters and the context key for its output."""

    agent: str
    key: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_#.-]{0,63}$")
    params: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def output_key(self) -> str:
        return self.key or self.agent


class Majority(Strict):
    """Where feeds disagree on `field`, the value most of them report wins; a tie goes to the highest in `order`
    when one is declared, else to the value of the task listed first in the stage."""

    rule: Literal["majority"] = "majority"
    field: str = Field(min_length=1, max_length=64)
    order: list[str] = Field(default_factory=list, max_length=32)


class Highest(Strict):
    """Where feeds disagree on `field`, the highest value in the declared `order` (lowest first) wins."""

    rule: Literal["highest"] = "highest"
    field: str = Field(min_length=1, max_length=64)
    order: list[str] = Field(min_length=1, max_length=32)


class Reconcile(Strict):
    """How a concurrent stage's outputs are combined when the stage is folded (see baton.reconcile).

    `merge`: the records in each output's list field `items`, de-duplicated by their field `key`; where the tasks
    disagree on a record's `on_conflict.field`, the declared rule decides. The merged value is recorded in the run's
    context under `into` (untrusted if any output it came from was), naming the tasks that failed (`partial`); when
    fewer than `min_succeeded` tasks succeeded it holds no records, `enough` is false and `reason` says why.
    """

    strategy: Literal["merge"] = "merge"
    into: str = Field(pattern=r"^[a-z][a-z0-9_#.-]{0,63}$")
    items: str = Field(min_length=1, max_length=64)
    key: str = Field(min_length=1, max_length=64)
    on_conflict: Annotated[Majority | Highest, Field(discriminator="rule")]
    min_succeeded: int = Field(default=1, ge=1)


class Delegate(Strict):
    """One stage: a single task is a sequential step; several run concurrently (optionally reconciled)."""

    kind: Literal["delegate"] = "delegate"
    tasks: list[Task] = Field(min_length=1)
    reason: str = ""
    # how the stage's outputs are combined when it is folded (None: each output is recorded alone, as ever)
    reconcile: Reconcile | None = None


class Finish(Strict):
    kind: Literal["finish"] = "finish"
    result: dict[str, JsonValue]


class Fail(Strict):
    kind: Literal["fail"] = "fail"
    reason: str


class AwaitApproval(Strict):
    """Hold one task for a person: a declared approver approves or rejects it, and the run waits on a task token.

    Approved, the task is delegated as the next stage; with `tool`, it carries a single-use grant for exactly that
    call of `tool` with these `arguments` (validated by the tool's model; the approval is bound to their hash).
    Without `tool`, the approval is bound to the task itself (its agent, key and params). Rejected or expired, the
    planner sees the task's outcome fail with error_type "ApprovalRejected" or "ApprovalExpired" and the reason.
    """

    kind: Literal["await_approval"] = "await_approval"
    task: Task
    tool: str | None = None
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    reason: str = ""
    # how long a person may take (None: the workflow's default expiry)
    expires_in_seconds: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)


Decision = Annotated[Delegate | AwaitApproval | Finish | Fail, Field(discriminator="kind")]


# ---------------------------------------------------------------- what a planner sees


class ContextEntry(Strict):
    """A value in the run's shared context, with where it came from."""

    value: JsonValue
    source: str  # "input" or the agent that produced it
    trusted: bool
    stage: int
    recorded_at: str
    # an injection detector flagged this (untrusted) value: a signal, never the boundary
    flagged: bool = False


class TaskOutcome(Strict):
    stage: int
    index: int
    agent: str
    key: str
    status: TaskStatus
    attempts: int
    error_type: str | None = None
    error: str | None = None
    # status NEEDS_APPROVAL: the call a policy held (nothing of it ran)
    pending_approval: PendingCall | None = None
    started_at: str
    ended_at: str
    # False when the task's input or a tool it called was untrusted: its error text may carry that data
    trusted: bool = True
    # the stage's stated reason (its planner's; a model planner's text, redacted): shown to people (`baton run`),
    # never to planners (RunView hands them outcomes without it: it may echo untrusted data the planner read)
    reason: str = ""
    # model calls and tokens the task's attempts reported, settled into the run's usage when the stage was folded
    model_usage: ModelUsage = Field(default_factory=ModelUsage)
    # a task delegated to a child workflow (WorkflowSpec.children): the child run it started
    child_run_id: str | None = None


JsonType = Literal["string", "integer", "number", "boolean", "null", "array", "object"]


class ValueShape(Strict):
    """What `RunView.describe` tells of a context value without showing it: where it came from, its type, its size."""

    key: str
    source: str
    trusted: bool
    type: JsonType
    bytes: int  # of its JSON
    stage: int
    # an injection detector flagged the value (provenance: a signal to route on, e.g. to a human; never a boundary)
    flagged: bool = False


def json_type(value: JsonValue) -> JsonType:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class RunReader(Protocol):
    """Where a RunView's values come from: a run's stored state, read as the planner asks (see baton.reader)."""

    def keys(self) -> list[str]: ...

    def entry(self, key: str) -> ContextEntry | None: ...

    def latest(self, key: str) -> TaskOutcome | None: ...

    def outcomes(self) -> list[TaskOutcome]: ...


class _InMemory:
    """A RunReader over values already in hand (a planner's unit tests build RunViews this way)."""

    def __init__(self, context: dict[str, ContextEntry], history: list[TaskOutcome]) -> None:
        self._context = dict(context)
        self._history = list(history)

    def keys(self) -> list[str]:
        return sorted(self._context)

    def entry(self, key: str) -> ContextEntry | None:
        return self._context.get(key)

    def latest(self, key: str) -> TaskOutcome | None:
        return next((o for o in reversed(self._history) if o.key == key), None)

    def outcomes(self) -> list[TaskOutcome]:
        return list(self._history)


class RunView:
    """The run's state as the planner receives it (read-only).

    It notes whether the planner read anything untrusted while deciding: parameters of a decision made
    after such a read are recorded as untrusted, so untrusted data cannot become trusted by passing
    through a planner's `Task.params`. In a deployment each read goes to the run's stored state only when
    the planner makes it (a value, the latest outcome of a key, the whole history on request), so what a
    stage reads does not grow with the run.
    """

    def __init__(
        self,
        run_id: str,
        workflow: str,
        stage: int,
        context: dict[str, ContextEntry] | None = None,
        history: list[TaskOutcome] | None = None,
        *,
        reader: RunReader | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.stage = stage
        self._reader: RunReader = reader or _InMemory(context or {}, history or [])
        self._read_untrusted = False
        self._read_flagged = False

    @property
    def read_untrusted(self) -> bool:
        """Whether the planner has read an untrusted value or outcome so far."""
        return self._read_untrusted

    @property
    def read_flagged(self) -> bool:
        """Whether the planner has read a value an injection detector flagged (its params then carry the flag)."""
        return self._read_flagged

    def keys(self) -> list[str]:
        """The context keys present (names only: reading them taints nothing)."""
        return self._reader.keys()

    def entry(self, key: str) -> ContextEntry | None:
        entry = self._reader.entry(key)
        if entry is not None and not entry.trusted:
            self._read_untrusted = True
            self._read_flagged = self._read_flagged or entry.flagged
        return entry

    def value(self, key: str) -> JsonValue:
        entry = self.entry(key)
        return None if entry is None else entry.value

    def latest(self, key: str) -> TaskOutcome | None:
        """The most recent outcome of the task whose output key is `key`."""
        outcome = self._reader.latest(key)
        if outcome is not None and not outcome.trusted:
            self._read_untrusted = True
        return None if outcome is None else _for_planners(outcome)

    def outcomes(self) -> list[TaskOutcome]:
        """Every task outcome so far, oldest first (a paged read of the run's whole history)."""
        history = self._reader.outcomes()
        if not all(outcome.trusted for outcome in history):
            self._read_untrusted = True
        return [_for_planners(outcome) for outcome in history]

    # ------------------------------------------------------------ reads that show no untrusted text

    def describe(self, key: str) -> ValueShape | None:
        """A value's key, source, trust, JSON type and size, never its text: this does not mark the view.

        What a plan-then-execute planner sees of an untrusted value: it may route on it, but has read nothing
        an attacker wrote, so the params of its decision stay trusted.
        """
        entry = self._reader.entry(key)
        if entry is None:
            return None
        return ValueShape(
            key=key,
            source=entry.source,
            trusted=entry.trusted,
            type=json_type(entry.value),
            bytes=len(json.dumps(entry.value).encode()),
            stage=entry.stage,
            flagged=entry.flagged,
        )

    def statuses(self) -> list[TaskOutcome]:
        """Every outcome so far (oldest first) as far as the orchestrator determined it, without marking the view.

        An untrusted task's error text and error type (which the data it read could have chosen) are left out,
        and so is every stage's stated reason.
        """
        return [
            _for_planners(o if o.trusted else o.model_copy(update={"error": None, "error_type": None}))
            for o in self._reader.outcomes()
        ]


def _for_planners(outcome: TaskOutcome) -> TaskOutcome:
    """An outcome as a planner sees it: without the stage's stated reason (display text, see TaskOutcome)."""
    return outcome.model_copy(update={"reason": ""}) if outcome.reason else outcome


# ---------------------------------------------------------------- Step Functions contract


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


# $$.Execution.Id: the execution ARN (Step Functions names it after the run; Express ARNs add an id)
ExecutionId = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:(execution|express):.+$", max_length=512)
]


class StateFailure(Strict):
    """What the state machine's Catch caught (error name and cause), passed back to the orchestrator."""

    error: str = Field(max_length=256)
    cause: str = Field(default="", max_length=32_768)


# the state machine definition whose executions can run a stage inline (DelegateInline); an execution of an
# older definition (started before its update, which it keeps) sends no `definition` and is never answered inline
INLINE_DEFINITION = 2
# Step Functions' longest error cause: what carries a transient attempt's report in an inline stage
MAX_CAUSE_CHARS = 32_768


class ReportedAttempt(Strict):
    """What an agent function returned for an inline stage's task (the ResultSelector keeps only the report)."""

    entry_json: str = Field(max_length=256_000)


class TransientAttempts(Strict):
    """The transient attempts of an inline task, latest first: each the TransientAttempt error's cause (the Lambda
    error object, whose message is the attempt's report). A list built by the state machine's Pass state, which
    can only nest the earlier ones, never append."""

    cause: str = Field(max_length=MAX_CAUSE_CHARS)
    earlier: "TransientAttempts | Annotated[list[JsonValue], Field(max_length=0)]"

    def causes(self) -> list[str]:
        """The causes, oldest first."""
        earlier = self.earlier.causes() if isinstance(self.earlier, TransientAttempts) else []
        return [*earlier, self.cause]


class InlineTaskReport(Strict):
    """One task of an inline stage, as its Map iteration ended: its last attempt's report, or the error that ended
    it (with the attempt that died), and the transient attempts before."""

    report: ReportedAttempt | None = None
    retried: TransientAttempts | Annotated[list[JsonValue], Field(max_length=0)] = Field(default_factory=list)
    attempt: int | None = Field(default=None, ge=1, le=10)
    error: str | None = Field(default=None, max_length=256)
    cause: str | None = Field(default=None, max_length=MAX_CAUSE_CHARS)

    def transient_causes(self) -> list[str]:
        return self.retried.causes() if isinstance(self.retried, TransientAttempts) else []


class PlanRequest(Strict):
    """What the state machine sends the orchestrator: the run, the stage it has just finished, who is asking.

    With `failure`, the Plan state itself failed: the orchestrator closes the run as failed.
    """

    run_id: RunId
    stage: int = Field(ge=0)
    execution: ExecutionId
    failure: StateFailure | None = None
    # set by the AwaitApproval state (lambda:invoke.waitForTaskToken): the orchestrator stores it for the API
    task_token: str | None = Field(default=None, min_length=1, max_length=2048)
    # the definition the execution runs (absent: one older than inline stages)
    definition: int = Field(default=1, ge=1, le=INLINE_DEFINITION)
    # set by PlanReported: what the finished inline stage's tasks reported, in task order
    reports: list[InlineTaskReport] | None = Field(default=None, max_length=1_000)


class PlanResponse(Strict):
    """What the orchestrator returns to the state machine. Always small: tasks are indexes, data stays in DynamoDB."""

    run_id: str
    stage: int
    kind: Literal["delegate", "await_approval", "finish", "fail"]
    # delegate: the distinct agent functions of the stage, and per task the index of its function
    functions: list[str] = Field(default_factory=list)
    tasks: list[int] = Field(default_factory=list)
    max_concurrency: int = 1
    # attempts per task: the state machine retries an attempt the agent reports as transient
    max_attempts: int = 3
    expires_at: int = 0
    reason: str = ""
    # await_approval: the approvals the run waits for, and how long the wait lasts (until the earliest expires)
    approvals: list[str] = Field(default_factory=list)
    wait_seconds: int = 0
    # delegate, inline (DelegateInline): each task's input travels in the payload, and each agent's report, of at
    # most report_limit bytes, comes back in it; the run record keeps the answer without them (they are TASK# items)
    inline: bool = False
    task_json: list[str] = Field(default_factory=list)
    report_limit: int = 0


class ChildBudget(Strict):
    """What a child run may spend, drawn from its parent's remaining budget when the parent delegated to it: its
    stages (its descendants' included) and its model use. A child never gets more than its own workflow declares."""

    max_stages: int = Field(ge=0)
    model: ModelAllowance


class TriggerEvent(Strict):
    """The EventBridge event that started a run (the event-driven pattern, baton.triggers): recorded with the run."""

    bus: str
    rule: str
    source: str
    detail_type: str
    event_id: str
    time: str | None = None
    # the run that published it (a Baton agent's publish tool puts it in the detail's `publisher`), when one did
    publishing_run_id: str | None = None
    publishing_workflow: str | None = None


__all__ = [
    "INLINE_DEFINITION",
    "MAX_CAUSE_CHARS",
    "AgentRequest",
    "AgentResult",
    "ApprovalGrant",
    "AwaitApproval",
    "CallOutcome",
    "ChildBudget",
    "ContextEntry",
    "Decision",
    "Delegate",
    "ExecutionId",
    "Fail",
    "Finish",
    "Highest",
    "InlineTaskReport",
    "JournalEntry",
    "JsonType",
    "Majority",
    "ModelAllowance",
    "ModelUsage",
    "PendingCall",
    "PlanRequest",
    "PlanResponse",
    "PolicyEffect",
    "PriorCall",
    "Reconcile",
    "ReportedAttempt",
    "RunId",
    "RunReader",
    "RunStatus",
    "RunView",
    "Sha256Hex",
    "StateFailure",
    "Strict",
    "Task",
    "TaskInput",
    "TaskOutcome",
    "TaskStatus",
    "ToolCallRecord",
    "TransientAttempts",
    "TriggerEvent",
    "ValueShape",
    "arguments_sha256",
    "invalid_fields",
    "json_type",
]
