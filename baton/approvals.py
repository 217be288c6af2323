"""Human approval: a held action, bound to its exact call, decided once by a declared approver, then settled.

An action is *held* when an agent's tool call is one a policy sends to a person (the task ends `needs_approval`
with the pending call) or when a planner decides `AwaitApproval`. The orchestrator records one `Approval` per held
action, bound to the run, the agent, the tool and the SHA-256 of the validated arguments (`arguments_sha256`), and
the run waits on a Step Functions task token. Where everything lives (the state table, see baton.keys):

  RUN#<run_id> META            the run record lists the approvals of the current wait (the orchestrator's copy of
                               each binding: what a decision is checked against)
  APPROVAL#<run_id> <id>       the approval as approvers see it (arguments, redacted), its state and its decision:
                               the orchestrator creates and settles it, the API decides it (once: conditional write)
  APPROVAL#<run_id> TOKEN      the task token of the current wait: written by the orchestrator when the wait begins,
                               read by the API to resume the run. It never leaves the table (notifications carry
                               the approval id, never the token).

States: pending -> approved | rejected (the API, by a declared approver who did not start the run) | expired (the
orchestrator, once the deadline passed) ; approved -> consumed (the re-delegated task's call carried the grant) |
void (it did not). Only `pending` can be decided, so a replayed or late decision changes nothing (409).

Identity: a caller is its IAM principal with an assumed-role session collapsed to its role (baton.api.principal_of),
plus its source identity when the request carries one (sts:SourceIdentity survives role chaining, a session name
does not). An approver is the run's starter when the two roles are the same, or when both carry the same source
identity: two sessions of one role cannot approve each other, nor can one person through two roles.
"""

from __future__ import annotations

import hashlib
import json
import math
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import Field, JsonValue, model_validator

from baton.models import ApprovalGrant, Sha256Hex, Strict

if TYPE_CHECKING:
    from baton.catalog import WorkflowSpec
    from baton.store import RunMeta, StateStore

APPROVAL_ID_PATTERN = r"^ap-[0-9a-f]{20}$"
ApprovalId = Annotated[str, Field(pattern=APPROVAL_ID_PATTERN)]
# a decision's stated reason (the approver's words): kept in the approval item, bound by hash in the audit
MAX_DECISION_REASON_CHARS = 1_000
# the arguments an approver is shown are at most this big (JSON); larger ones are shown as their hash only
MAX_SHOWN_ARGUMENTS_BYTES = 16_384
# an approval may not outlive its run's items (their TTL): it expires this long before them at the latest
RETENTION_MARGIN_SECONDS = 3_600
# a grant handed to a re-delegated task is usable this long after the task is delegated (plus its attempts' time)
GRANT_SECONDS = 900


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CONSUMED = "consumed"
    VOID = "void"


DECIDED = frozenset({ApprovalState.APPROVED, ApprovalState.REJECTED})
# error types of a held task's outcome when its approval is refused: what the planner sees
REJECTED_ERROR = "ApprovalRejected"
EXPIRED_ERROR = "ApprovalExpired"
UNAVAILABLE_ERROR = "ApprovalUnavailable"


class Approval(Strict):
    """One held action and its decision."""

    approval_id: ApprovalId
    run_id: str
    workflow: str
    # the held task: its input is the task item <stage>#<index> of the run (a planner's held task is the stage its
    # AwaitApproval opened, never run by a Map: approved, it is delegated as the stage after)
    stage: int
    index: int
    agent: str
    key: str
    # the call the approval allows (None: a planner's AwaitApproval of the task itself, bound to its params)
    tool: str | None
    arguments_sha256: Sha256Hex
    # validated and redacted: what the approver reads (empty in the run record's copy)
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    # False when the arguments shown are not exactly those bound (a secret was masked in them): look at the hash
    arguments_exact: bool = True
    policy_ids: list[str] = Field(default_factory=list)
    reason: str = ""
    held_by: Literal["policy", "planner"]
    requested_at: str
    expires_at: int  # epoch seconds: no decision is accepted after this
    attempts: int = 1  # the held task's attempts (its outcome's, if the approval is refused)
    trusted: bool = True  # the held task's trust (its outcome's, if the approval is refused)
    state: ApprovalState = ApprovalState.PENDING
    approver: str | None = None
    approver_source_identity: str | None = None
    decided_at: str | None = None
    decided_epoch: int | None = None
    decision_reason: str = Field(default="", max_length=MAX_DECISION_REASON_CHARS)

    def binding(self) -> tuple[Any, ...]:
        """What a decision is about: everything but the decision (the orchestrator checks it was not changed)."""
        return (
            self.approval_id,
            self.run_id,
            self.stage,
            self.index,
            self.agent,
            self.key,
            self.tool,
            self.arguments_sha256,
            self.expires_at,
        )

    def for_run_record(self) -> Approval:
        """The run record's copy: the binding and the state, without the arguments (the item has them)."""
        return self.model_copy(update={"arguments": {}})

    def grant(self, now_epoch: float, task_seconds: int) -> ApprovalGrant | None:
        """The single-use grant an approved tool call is re-delegated with (None: a task approved as a whole)."""
        if self.tool is None:
            return None
        return ApprovalGrant(
            grant_id=self.approval_id,
            agent=self.agent,
            tool=self.tool,
            arguments_sha256=self.arguments_sha256,
            expires_at=int(now_epoch) + GRANT_SECONDS + task_seconds,
        )


def approval_id_for(run_id: str, stage: int, index: int, arguments_sha256: str) -> str:
    """Fixed by what is held: a retried Plan names the same approval again (and notifies of the same one)."""
    return "ap-" + hashlib.sha256(f"{run_id}#{stage}#{index}#{arguments_sha256}".encode()).hexdigest()[:20]


def shown_arguments(arguments: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if len(json.dumps(arguments).encode()) <= MAX_SHOWN_ARGUMENTS_BYTES:
        return arguments
    return {"(too large to show)": f"{len(json.dumps(arguments).encode())} bytes, bound by arguments_sha256"}


def task_sha256(agent: str, key: str, params: dict[str, JsonValue]) -> str:
    """What a planner's AwaitApproval without a tool is bound to: the task itself."""
    canonical = json.dumps({"agent": agent, "key": key, "params": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def expiry_seconds(requested: int | None, workflow: WorkflowSpec, run_expires_at: int, now_epoch: float) -> int:
    """How long a person may take: the rule's, else the workflow's default; never past the run's own items."""
    if workflow.approvals is None:
        raise ValueError(f"workflow {workflow.name!r} declares no approvals")
    seconds = requested or workflow.approvals.default_expiry_seconds
    room = int(run_expires_at - now_epoch - RETENTION_MARGIN_SECONDS)
    return max(60, min(seconds, room))


def wait_seconds(approvals: list[Approval], now_epoch: float) -> int:
    """How long the wait state waits: until the earliest pending approval expires (and a second more)."""
    pending = [a.expires_at for a in approvals if a.state is ApprovalState.PENDING]
    if not pending:
        return 1
    return max(1, math.ceil(min(pending) - now_epoch)) + 1


# ---------------------------------------------------------------- who is asking


class Identity(NamedTuple):  # NamedTuples, not frozen dataclasses: cheaper to create at a cold start
    """A caller as approvals compare callers: its principal (a role, for any of its sessions) and source identity."""

    principal: str
    source_identity: str | None = None

    def same_person(self, other: Identity) -> bool:
        if self.principal == other.principal:
            return True
        return self.source_identity is not None and self.source_identity == other.source_identity


def starter_of(meta: RunMeta) -> Identity:
    return Identity(meta.caller, meta.caller_source_identity)


def approver_problem(workflow: WorkflowSpec, meta: RunMeta, approver: Identity) -> str | None:
    """Why this principal may not decide this run's approvals (None: it may)."""
    if workflow.approvals is None:
        return f"workflow {workflow.name!r} declares no approvers"
    if approver.principal not in workflow.approvals.approver_roles:
        return f"{approver.principal} is not an approver of workflow {workflow.name!r}"
    if approver.same_person(starter_of(meta)):
        return "the principal that started the run may not approve its actions (same role or source identity)"
    return None


# ---------------------------------------------------------------- the task token of a wait


class TaskToken(Strict):
    """The task token of a run's current wait, and the approvals whose approvers were already notified."""

    run_id: str
    stage: int
    token: str = Field(min_length=1, max_length=2048)
    notified: list[str] = Field(default_factory=list)
    at: str


# ---------------------------------------------------------------- deciding (the API's part)


class DecisionBody(Strict):
    """`POST /runs/{run_id}/approvals`: which approval (its id, or the pending call's hash), and the decision."""

    approval_id: ApprovalId | None = None
    arguments_sha256: Sha256Hex | None = None
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=MAX_DECISION_REASON_CHARS)

    @model_validator(mode="after")
    def _one_approval(self) -> DecisionBody:
        if (self.approval_id is None) == (self.arguments_sha256 is None):
            raise ValueError("name the approval by approval_id or by arguments_sha256 (one of them)")
        return self


class ApprovalRefused(Exception):
    """A decision that cannot be taken: its HTTP status, message and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class Decided(NamedTuple):
    approval: Approval
    resumed: bool  # the run's wait was ended by this decision (every approval of it is now decided)


class ApprovalDesk:
    """Takes decisions for the API (and the offline engine): checks who decides, records it once, resumes the run.

    The desk never writes the audit chain: the orchestrator records each decision (and who took it) when the run
    resumes, from the approval item this desk wrote.
    """

    def __init__(self, store: StateStore, stepfunctions_client: Any, clock: Any | None = None) -> None:
        from baton import clock as default_clock

        self._store = store
        self._sfn = stepfunctions_client
        self._clock = clock or default_clock

    def decide(self, workflow: WorkflowSpec, run_id: str, body: DecisionBody, approver: Identity) -> Decided:
        from baton.models import RunStatus
        from baton.store import ConcurrentUpdate

        if workflow.approvals is None:
            raise ApprovalRefused(404, f"workflow {workflow.name!r} takes no approvals", "run_id")
        if approver.principal not in workflow.approvals.approver_roles:
            raise ApprovalRefused(403, f"the caller is not an approver of workflow {workflow.name!r}")
        meta = self._store.find_meta(run_id)
        if meta is None:
            raise ApprovalRefused(404, f"run {run_id!r} not found", "run_id")
        problem = approver_problem(workflow, meta, approver)
        if problem is not None:
            raise ApprovalRefused(403, problem)
        approval = self._find(meta, body)
        now = self._clock.epoch()
        if meta.status is not RunStatus.RUNNING:
            raise ApprovalRefused(409, f"run {run_id!r} has ended ({meta.status.value})", "run_id")
        if approval.state is not ApprovalState.PENDING:
            raise ApprovalRefused(409, f"approval {approval.approval_id} is already {approval.state.value}", "decision")
        if now >= approval.expires_at:
            raise ApprovalRefused(409, f"approval {approval.approval_id} has expired", "decision")
        decided = approval.model_copy(
            update={
                "state": ApprovalState.APPROVED if body.decision == "approve" else ApprovalState.REJECTED,
                "approver": approver.principal,
                "approver_source_identity": approver.source_identity,
                "decided_at": self._clock.now_iso(),
                "decided_epoch": int(now),
                "decision_reason": body.reason,
            }
        )
        try:
            self._store.decide_approval(decided, meta.expires_at)
        except ConcurrentUpdate:
            current = self._store.load_approval(run_id, approval.approval_id)
            state = "decided" if current is None else current.state.value
            raise ApprovalRefused(409, f"approval {approval.approval_id} is already {state}", "decision") from None
        return Decided(decided, self.resume_if_settled(run_id, meta))

    def _find(self, meta: RunMeta, body: DecisionBody) -> Approval:
        if body.approval_id is not None:
            approval = self._store.load_approval(meta.run_id, body.approval_id)
            if approval is None:
                raise ApprovalRefused(404, f"no approval {body.approval_id} in run {meta.run_id!r}", "approval_id")
            return approval
        held = [a for a in meta.approvals if a.arguments_sha256 == body.arguments_sha256]
        if not held:
            raise ApprovalRefused(
                409, f"no approval of run {meta.run_id!r} waits for a call with this hash", "arguments_sha256"
            )
        if len(held) > 1:
            raise ApprovalRefused(409, "several approvals wait for calls with this hash: name one by approval_id")
        approval = self._store.load_approval(meta.run_id, held[0].approval_id)
        if approval is None:
            raise ApprovalRefused(404, f"no approval {held[0].approval_id} in run {meta.run_id!r}", "approval_id")
        return approval

    def resume_if_settled(self, run_id: str, meta: RunMeta | None = None) -> bool:
        """End the run's wait when none of its approvals is still pending and unexpired (what the wait's timeout
        does at the earliest expiry). False when some are, or when the wait has not stored its token yet (the
        orchestrator then sees every approval decided itself, and goes on without waiting)."""
        from botocore.exceptions import ClientError

        meta = meta or self._store.find_meta(run_id)
        if meta is None or not meta.approvals:
            return False
        now = self._clock.epoch()
        items = self._store.load_approvals(run_id, [a.approval_id for a in meta.approvals])
        if any(a.state is ApprovalState.PENDING and now < a.expires_at for a in items):
            return False
        token = self._store.load_task_token(run_id)
        if token is None or token.stage != meta.stage:
            return False
        try:
            self._sfn.send_task_success(taskToken=token.token, output=json.dumps({"resumed": run_id}))
        except ClientError as error:
            # the wait already ended (its timeout, another decision's resume): nothing to do
            if error.response["Error"]["Code"] in {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}:
                return False
            raise
        return True


# ---------------------------------------------------------------- telling approvers (the orchestrator's part)


class Notifier:
    """Sends one message per approval asked for to the workflow's declared queue or topic (never the task token)."""

    def __init__(self, kind: Literal["queue", "topic"] | None, target: str | None, client: Any = None) -> None:
        self._kind = kind
        self._target = target
        self._client = client

    @property
    def configured(self) -> bool:
        return self._kind is not None and self._target is not None

    def notify(self, approvals: list[Approval]) -> list[str]:
        """The ids of the approvals whose message was sent."""
        if not self.configured:
            return []
        sent = []
        for approval in approvals:
            message = json.dumps(message_of(approval), sort_keys=True)
            if self._kind == "queue":
                self._client().send_message(QueueUrl=self._target, MessageBody=message)
            else:
                self._client().publish(TopicArn=self._target, Message=message, Subject="Baton: approval requested")
            sent.append(approval.approval_id)
        return sent


def message_of(approval: Approval) -> dict[str, Any]:
    """What approvers are told: the held action, how to decide it, until when."""
    from datetime import UTC, datetime

    return {
        "kind": "baton.approval_requested",
        "run_id": approval.run_id,
        "workflow": approval.workflow,
        "approval_id": approval.approval_id,
        "agent": approval.agent,
        "tool": approval.tool,
        "arguments": approval.arguments,
        "arguments_sha256": approval.arguments_sha256,
        "policy_ids": approval.policy_ids,
        "reason": approval.reason,
        "expires_at": datetime.fromtimestamp(approval.expires_at, UTC).isoformat(),
        "decide": f"POST /runs/{approval.run_id}/approvals",
    }
