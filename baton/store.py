"""What the runtime keeps about runs, as typed records, and the store protocol the orchestrator and API use.

`baton.state.DynamoStateStore` is the deployment's store (the only module that speaks DynamoDB's wire format);
`baton.testing.memory_store.InMemoryStateStore` is a fake with the same behaviour for unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from baton.approvals import Approval, TaskToken
from baton.audit import AuditRecord
from baton.models import (
    ChildBudget,
    ContextEntry,
    ModelUsage,
    PlanResponse,
    PriorCall,
    Reconcile,
    RunStatus,
    TaskInput,
    TaskOutcome,
    TriggerEvent,
)

# Version of what a run stores (on its run record; a run keeps the version it started with):
# 2: run ids carry their workflow, the API writes a start request and the orchestrator creates the run, the
#    state machine records the journal, heads are signed.
# 3: each step also writes LATEST#<key>, so a stage reads only what its planner looks at (baton.reader).
# 4: human approval: the run record lists the approvals of the current wait, APPROVAL#<run_id> holds each approval
#    and the wait's task token, and RUN#<run_id> CALLS#<tool> the run's successful calls of each state-changing tool
#    an agent under policies may call (TaskInput.prior_calls). A version 3 run has no CALLS# items: its prior calls
#    are read from its journal instead.
# Fields added with a default that is exact for every run stored before them (the run record's model usage: no
# model could be called before) change nothing a reader must branch on, so they need no new version.
# 5: hierarchical runs: a start request and a run record may name their parent run (`parent_run_id`), the budget drawn
#    from it and the input keys it passed untrusted; a run record counts its descendants' stages (`child_stages`) and
#    whether its result is trusted; a task for a child workflow names its child run. A version 4 run has none of these
#    (no parent, no children) and finishes as before.
# Inline stages (the state machine's DelegateInline) store nothing new a reader branches on: an inline stage's reports
# come in the next Plan's request and are folded there instead of journaled (only a version 3 run's ledger reads
# the journal, and its executions run by reference), and the run record's answer gains `inline` and `report_limit`
# (defaults exact for every answer stored before). No new version.
SCHEMA_VERSION = 5
# DynamoDB items are limited to 400 KB; leave room for keys and attributes
MAX_VALUE_BYTES = 300_000


class StateError(Exception):
    pass


class RunNotFound(StateError):
    pass


class ConcurrentUpdate(StateError):
    """Another writer changed the run since it was read (or the item already exists)."""


class IdempotencyConflict(StateError):
    """An idempotency key reused for a different request."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built at first use (see models.Strict)


class StartRequest(_Record):
    """A validated request to start a run, written by the API; the orchestrator creates the run from it."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    workflow: str
    input: dict[str, JsonValue]
    caller: str  # the IAM principal that asked (normalised: a role, not one of its sessions)
    # the caller's source identity (sts:SourceIdentity), when its request carried one
    caller_source_identity: str | None = None
    idempotency_key: str | None = None
    requested_at: str
    expires_at: int
    # a child run (schema 5): the run that delegated to it, the budget drawn from that run's remaining budget, and the
    # input keys it passed untrusted (the parent's planner had read untrusted data)
    parent_run_id: str | None = None
    budget: ChildBudget | None = None
    untrusted_keys: list[str] = Field(default_factory=list)
    # a run an event started (the event-driven pattern, baton.triggers): that event
    trigger: TriggerEvent | None = None


class RunMeta(_Record):
    """The run record: status, optimistic-lock version, stage, signed audit head, last answer."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    workflow: str
    status: RunStatus
    version: int
    stage: int
    # the one execution this run belongs to ($$.Execution.Id); every other one is refused
    execution: str
    caller: str
    audit_seq: int
    audit_head: str
    audit_signature: str
    audit_key_id: str
    created_at: str
    updated_at: str
    expires_at: int
    last_plan: PlanResponse | None = None
    # Express only: when the run's execution must have ended (epoch seconds); the sweep closes it after that
    deadline: int | None = None
    stage_tasks: int = 0
    result: dict[str, JsonValue] | None = None
    reason: str | None = None
    # the run's model usage so far (its planner's and its agents' reports, settled as each stage is folded), in
    # total (what the workflow's budgets limit) and by model id (what its cost is estimated from). A run record
    # stored without them is a run that made no model call: the defaults are exact, so no schema version marks them.
    model_usage: ModelUsage = Field(default_factory=ModelUsage)
    model_usage_by_model: dict[str, ModelUsage] = Field(default_factory=dict)
    # the current stage's stated reason (its planner's), copied into each of its steps when it is folded
    stage_reason: str = ""
    # the starter's source identity (compared with an approver's, see baton.approvals)
    caller_source_identity: str | None = None
    # the approvals the run waits for (empty: it waits for none): the orchestrator's copy of each binding and state
    approvals: list[Approval] = Field(default_factory=list)
    # hierarchical runs (schema 5): the parent run and the budget drawn from it (a child run), the stages the run's
    # descendants used (counted against its own), and whether its result is trusted (its planner read nothing
    # untrusted before finishing; None: not known, a run stored before)
    parent_run_id: str | None = None
    budget: ChildBudget | None = None
    child_stages: int = 0
    result_trusted: bool | None = None
    # how the current stage's outputs are combined when it is folded (its Delegate's `reconcile`; None: they are not)
    stage_reconcile: Reconcile | None = None
    # a run an event started (baton.triggers): that event
    trigger: TriggerEvent | None = None


@dataclass(frozen=True)
class RecordedAttempt:
    """One journal item the state machine wrote: an agent's report, or a crash its Catch caught."""

    stage: int
    index: int
    attempt: int
    execution: str
    entry_json: str | None = None
    error: str | None = None
    cause: str | None = None


@dataclass
class RunSnapshot:
    """What one Plan reads up front: the run record and the finished stage's tasks and journal (the rest of the
    run is read as the planner asks, see baton.reader). `meta` is None before the run's first Plan (then `start`
    is set)."""

    meta: RunMeta | None
    start: StartRequest | None
    tasks: dict[int, TaskInput] = field(default_factory=dict)
    attempts: list[RecordedAttempt] = field(default_factory=list)


@dataclass
class Commit:
    """One atomic change of a run: the new run record and every item the stage produced."""

    meta: RunMeta
    expected_version: int | None  # None: the run is being created (its record must not exist yet)
    context: dict[str, ContextEntry] = field(default_factory=dict)
    steps: list[TaskOutcome] = field(default_factory=list)
    tasks: dict[int, TaskInput] = field(default_factory=dict)  # the new stage's tasks, by index
    audit: list[AuditRecord] = field(default_factory=list)
    # approval items written as they are (created, or settled: consumed, void) ...
    approvals: list[Approval] = field(default_factory=list)
    # ... and written only if still pending (the orchestrator expiring one races the API deciding it)
    expired: list[Approval] = field(default_factory=list)
    # the run's successful calls of each counted tool, in full (CALLS#<tool>)
    ledgers: dict[str, list[PriorCall]] = field(default_factory=dict)


class StateStore(Protocol):
    def put_start(self, request: StartRequest, idempotency: tuple[str, str] | None = None) -> str:
        """Store a start request; with `idempotency=(key, request_hash)` a repeat returns the first run's id."""
        ...

    def load_snapshot(self, run_id: str, journal: bool = True) -> RunSnapshot:
        """The run record, and the finished stage's tasks and (with `journal`) journal items."""
        ...

    def commit(self, commit: Commit) -> None:
        """Write everything or nothing; ConcurrentUpdate if the run changed since `expected_version`."""
        ...

    def find_meta(self, run_id: str) -> RunMeta | None: ...

    def load_context_entry(self, run_id: str, key: str) -> ContextEntry | None: ...

    def load_context_keys(self, run_id: str) -> list[str]: ...

    def load_latest(self, run_id: str, key: str) -> TaskOutcome | None:
        """The latest outcome of the task whose output key is `key` (schema version 3 on)."""
        ...

    def load_start(self, run_id: str) -> StartRequest | None: ...

    def load_context(self, run_id: str) -> dict[str, ContextEntry]: ...

    def load_history(self, run_id: str) -> list[TaskOutcome]: ...

    def load_audit(self, run_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        """Committed audit records, oldest first, each with its `signature` where a commit ended."""
        ...

    def open_runs(self, workflow: str, deadline_before: int) -> list[str]:
        """Running runs of an Express workflow whose deadline has passed."""
        ...

    # ------------------------------------------------------------ approvals (schema version 4 on)

    def load_task(self, run_id: str, stage: int, index: int) -> TaskInput | None: ...

    def load_approval(self, run_id: str, approval_id: str) -> Approval | None: ...

    def load_approvals(self, run_id: str, approval_ids: list[str]) -> list[Approval]: ...

    def decide_approval(self, approval: Approval, expires_at: int) -> None:
        """Record a decision on an approval that is still pending; ConcurrentUpdate if it is not (any more)."""
        ...

    def load_task_token(self, run_id: str) -> TaskToken | None: ...

    def put_task_token(self, token: TaskToken, expires_at: int) -> None: ...

    def load_calls(self, run_id: str, tool: str) -> list[PriorCall]:
        """The run's successful calls of a counted tool so far (CALLS#<tool>)."""
        ...

    def load_journal(self, run_id: str) -> list[RecordedAttempt]:
        """Every journal item of the run (what a version 3 run's prior calls are read from)."""
        ...
