"""The models of one task attempt: what an agent function receives and what it reports.

An agent function imports these alone (the orchestrator's decisions, run view and plan payloads are in
baton.models, which re-exports these: most of Baton reads every model from there). Everything here crosses a trust
boundary: extra fields are forbidden, and what is stored is JSON validated on the way back in.
"""

# No `from __future__ import annotations` here: pydantic would then evaluate every field annotation from its string
# (a compile and an eval each: about 1.5 ms of a cold start per 30 models).

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from baton.keys import RUN_ID_PATTERN


class Strict(BaseModel):
    # defer_build: a model's validator is built when first used, so a function builds only those of the
    # models it uses (the orchestrator's decisions are no agent's business), and none at import
    model_config = ConfigDict(extra="forbid", defer_build=True)


def invalid_fields(error: ValidationError) -> str:
    """The fields a validation error is about, never their values (which may be secret or hostile)."""
    return ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in error.errors())


class TaskStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # a tool call was held by a policy for a human: the attempt reports the pending call, nothing ran
    NEEDS_APPROVAL = "needs_approval"


RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN)]


class AgentRequest(Strict):
    """What the state machine sends an agent function: its task's input, read by the state machine itself (or, in an
    inline stage, carried in the payload from the orchestrator's answer)."""

    run_id: RunId
    stage: int = Field(ge=1)
    index: int = Field(ge=0)
    attempt: int = Field(ge=1, le=10)
    task_json: str = Field(max_length=400_000)
    # an inline stage's task (DelegateInline): a transient attempt before the last raises TransientAttempt with
    # its report, and every report fits report_limit bytes
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    report_limit: int | None = Field(default=None, ge=1_024, le=256_000)


class AgentResult(Strict):
    """What an agent function returns; the state machine writes `entry_json` to the journal, not the agent."""

    entry_json: str
    retry: bool


CallOutcome = Literal["ok", "denied", "invalid_arguments", "error", "needs_approval"]
PolicyEffect = Literal["allow", "deny", "approval"]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def arguments_sha256(tool: str, arguments: dict[str, JsonValue]) -> str:
    """What an approval is bound to: the tool and its *validated* arguments, as canonical JSON."""
    canonical = json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ToolCallRecord(Strict):
    tool: str
    outcome: CallOutcome
    at: str
    duration_ms: float
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    detail: str = ""
    # the tool-call policy's answer (None: the agent's tools are under no policy) and the policies that gave it
    policy_effect: PolicyEffect | None = None
    policy_ids: list[str] = Field(default_factory=list)
    # the policy's answer was only logged (log-only mode): the call went ahead whatever it said
    policy_log_only: bool = False
    # the approval grant this call consumed
    grant_id: str | None = None


class PendingCall(Strict):
    """A tool call a policy held for a human: what the approver is asked to allow, bound by its hash."""

    agent: str
    tool: str
    arguments_sha256: Sha256Hex
    arguments: dict[str, JsonValue]  # validated and redacted: what the approver reads
    policy_ids: list[str]
    reason: str = ""
    # how long an approval may take, from the policy that asked for it (None: the workflow's default)
    expires_in_seconds: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)


class ApprovalGrant(Strict):
    """A single-use permission for one exact tool call, carried in a re-delegated task's input after a human
    approved it. Only a call of `tool` whose validated arguments hash to `arguments_sha256` consumes it; the
    orchestrator settles it (used or not) when it folds the stage, so it is never handed out twice."""

    grant_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    agent: str
    tool: str
    arguments_sha256: Sha256Hex
    expires_at: int  # epoch seconds


class PriorCall(Strict):
    """A state-changing tool call that succeeded earlier in this run: what a policy counts ("at most one refund
    per order per run"). The orchestrator hands them in (agents keep no run state)."""

    agent: str
    tool: str
    stage: int
    arguments: dict[str, JsonValue]  # validated and redacted


class ModelUsage(Strict):
    """Model calls and tokens spent (Converse's `usage` figures)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: "ModelUsage") -> "ModelUsage":
        return ModelUsage(
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ModelAllowance(Strict):
    """What one caller may still spend of its run's model budget (checked before every call)."""

    calls: int
    input_tokens: int
    output_tokens: int


class TaskInput(Strict):
    """The task item the orchestrator writes for an agent: scoped context plus planner parameters."""

    agent: str
    key: str
    payload: dict[str, JsonValue]
    untrusted_keys: list[str]
    # a model-backed agent's share of the run's remaining model budget (the orchestrator settles what it spent)
    allowance: ModelAllowance | None = None
    # payload keys whose value an injection detector flagged (each also in untrusted_keys)
    flagged_keys: list[str] = Field(default_factory=list)
    # approvals for exact calls of this task's agent, each single-use
    grants: list[ApprovalGrant] = Field(default_factory=list)
    # the run's earlier successful state-changing calls of the tools this agent may call (for its policies)
    prior_calls: list[PriorCall] = Field(default_factory=list)
    # a task for a child workflow (`agent` names it): the child run the state machine starts (payload: its input)
    child_run_id: str | None = None


class JournalEntry(Strict):
    """One attempt of a task, as the agent reports it (the state machine records it; the orchestrator checks it)."""

    stage: int
    index: int
    attempt: int
    agent: str
    status: TaskStatus
    started_at: str
    ended_at: str
    output: dict[str, JsonValue] | None = None
    output_trusted: bool = False
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    model_usage: ModelUsage = Field(default_factory=ModelUsage)
    error_type: str | None = None
    error: str | None = None
    # status NEEDS_APPROVAL: the call a policy held (nothing of it ran)
    pending_approval: PendingCall | None = None
