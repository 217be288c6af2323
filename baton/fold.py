"""Folding a finished stage into the run: what each task's attempts produced, checked, with provenance.

Pure: journal items in, outcomes, context values and audit records out. What an agent reports about its
own attempt is believed only as far as it can be checked: its output must pass the agent's output model
and size limit, and its trust is recomputed from the catalog (an agent can lower it, never raise it). The
attempt order, the execution and the stage come from the state machine, which wrote the journal items.

Model usage is settled here: what each attempt reports (`JournalEntry.model_usage`) is added to the run's usage,
all of it, even past the attempt's allowance. An agent holds no write access to the budget; its own gateway
enforces its allowance before every call, so an honest attempt can exceed it only by the input tokens of its last
call. Reporting more is believed (counting more only makes the run fail closed sooner, and the run's cost must
count what was spent) and audited as an anomaly when it is impossible for an honest agent: more calls or output
tokens than its allowance, or any usage from a coded agent, which has no model. Reporting less cannot be detected
here: IAM (only model-backed agents may invoke their model) and the agent's timeout bound what a lying agent spends.
Every attempt of a task receives the task's allowance (an attempt cannot see what its predecessors spent), so a
retried task can spend up to its attempts times its share; the sum is settled, and the run's next model call then
fails closed if the budget is gone. An attempt that crashed reported nothing, and nothing is counted for it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import JsonValue, ValidationError

from baton.audit import AuditChain, AuditKind, digest
from baton.catalog import Catalog, SideEffect
from baton.models import (
    ContextEntry,
    JournalEntry,
    ModelUsage,
    PriorCall,
    TaskInput,
    TaskOutcome,
    TaskStatus,
    ToolCallRecord,
    invalid_fields,
)
from baton.redaction import REDACTOR
from baton.store import RecordedAttempt, RunMeta

ORCHESTRATOR = "orchestrator"
MAX_ERROR_CHARS = 500
# tool-call outcomes that mean the tool's code ran (a denied or invalid call never reached it)
_RAN = frozenset({"ok", "error"})


@dataclass
class StageFold:
    outcomes: list[TaskOutcome] = field(default_factory=list)
    context: dict[str, ContextEntry] = field(default_factory=dict)
    # the model usage the stage's attempts reported, in total and by the model id of each agent
    model_usage: ModelUsage = field(default_factory=ModelUsage)
    usage_by_model: dict[str, ModelUsage] = field(default_factory=dict)
    # the stage's successful calls of state-changing tools (what tool-call policies count, see TaskInput.prior_calls)
    calls: list[PriorCall] = field(default_factory=list)
    # the approval grants the stage's tasks carried, each settled: consumed by a call, or void
    settled: list[SettledGrant] = field(default_factory=list)


@dataclass(frozen=True)
class SettledGrant:
    grant_id: str  # the approval's id
    stage: int
    index: int
    consumed: bool
    attempt: int | None = None  # the attempt whose call consumed it


@dataclass
class _Attempt:
    number: int
    entry: JournalEntry | None = None  # the agent's report
    error_type: str | None = None  # set when there is no usable report
    error: str | None = None


def fold_stage(
    catalog: Catalog,
    meta: RunMeta,
    tasks: dict[int, TaskInput],
    recorded: list[RecordedAttempt],
    chain: AuditChain,
    now: str,
) -> StageFold:
    by_task: dict[int, list[_Attempt]] = defaultdict(list)
    for item in sorted(recorded, key=lambda r: (r.index, r.attempt, r.entry_json is None)):
        attempt = _checked(item, meta, tasks, chain, now)
        if attempt is not None:
            by_task[item.index].append(attempt)
    fold = StageFold()
    for index, task in sorted(tasks.items()):
        fold.outcomes.append(_fold_task(catalog, meta, index, task, by_task[index], chain, now, fold))
    if meta.stage_reconcile is not None and all(o.status is not TaskStatus.NEEDS_APPROVAL for o in fold.outcomes):
        _reconcile(meta, fold, chain, now)
    return fold


def _reconcile(meta: RunMeta, fold: StageFold, chain: AuditChain, now: str) -> None:
    """The stage's declared reconcile (baton.reconcile): its outputs merged into one context value, audited."""
    from baton.reconcile import SOURCE, StageResult, merge

    spec = meta.stage_reconcile
    assert spec is not None  # noqa: S101 (checked by the caller)
    results = [
        StageResult(o.key, o.status, _dict(fold.context[o.key].value) if o.key in fold.context else None, o.trusted)
        for o in fold.outcomes
    ]
    merged, trusted = merge(spec, results)
    value = merged.model_dump(mode="json")
    fold.context[spec.into] = ContextEntry(
        value=value, source=SOURCE, trusted=trusted, stage=meta.stage, recorded_at=now
    )
    chain.append(
        AuditKind.RECONCILED,
        ORCHESTRATOR,
        now,
        stage=meta.stage,
        key=spec.into,
        rule=merged.rule,
        records=len(merged.items),
        conflicts=len(merged.conflicts),
        succeeded=merged.succeeded,
        failed=merged.failed,
        enough=merged.enough,
        trusted=trusted,
        value_hash=digest(value),
    )


def _dict(value: object) -> dict[str, JsonValue] | None:
    return value if isinstance(value, dict) else None


def _checked(
    item: RecordedAttempt, meta: RunMeta, tasks: dict[int, TaskInput], chain: AuditChain, now: str
) -> _Attempt | None:
    """One recorded attempt, if it belongs to this run's execution and stage; anything else is an anomaly."""
    if item.execution != meta.execution or item.stage != meta.stage or item.index not in tasks:
        chain.append(
            AuditKind.ANOMALY,
            ORCHESTRATOR,
            now,
            what="journal item from another execution or stage",
            stage=item.stage,
            index=item.index,
            execution=item.execution,
        )
        return None
    if item.entry_json is None:
        return _Attempt(item.attempt, error_type=item.error or "States.TaskFailed", error=_cause_message(item.cause))
    task = tasks[item.index]
    try:
        entry = JournalEntry.model_validate_json(item.entry_json)
    except ValidationError as error:
        return _Attempt(item.attempt, error_type="AgentReportInvalid", error=f"report failed: {invalid_fields(error)}")
    if (entry.agent, entry.stage, entry.index, entry.attempt) != (task.agent, item.stage, item.index, item.attempt):
        chain.append(
            AuditKind.ANOMALY,
            ORCHESTRATOR,
            now,
            what="an agent reported another task's attempt",
            stage=item.stage,
            index=item.index,
            agent=task.agent,
        )
        return _Attempt(item.attempt, error_type="AgentReportInvalid", error="the report names another task")
    return _Attempt(item.attempt, entry=entry)


def _fold_task(
    catalog: Catalog,
    meta: RunMeta,
    index: int,
    task: TaskInput,
    attempts: list[_Attempt],
    chain: AuditChain,
    now: str,
    fold: StageFold,
) -> TaskOutcome:
    agent = catalog.agents[task.agent]
    trusted = not task.untrusted_keys
    usage = _settle(catalog, meta, index, task, attempts, chain, now, fold)
    for attempt in attempts:
        if attempt.entry is None:
            continue
        for call in attempt.entry.tool_calls:
            tool = catalog.tools.get(call.tool)
            if call.outcome in _RAN and (tool is None or not tool.output_trusted):
                trusted = False
            if call.outcome == "ok" and tool is not None and tool.side_effect is not SideEffect.READ:
                fold.calls.append(
                    PriorCall(agent=task.agent, tool=call.tool, stage=meta.stage, arguments=call.arguments)
                )
            kind = AuditKind.DENIAL if call.outcome == "denied" else AuditKind.TOOL_CALL
            chain.append(
                kind,
                task.agent,
                call.at,
                stage=meta.stage,
                index=index,
                attempt=attempt.number,
                tool=call.tool,
                outcome=call.outcome,
                duration_ms=call.duration_ms,
                arguments_hash=digest(call.arguments),
                **({"reason": call.detail} if call.outcome == "denied" else {}),
                **_policy_detail(call),
            )
    _settle_grants(meta, index, task, attempts, chain, now, fold)
    entries = [a.entry for a in attempts if a.entry is not None]
    started = entries[0].started_at if entries else now
    ended = entries[-1].ended_at if entries else now
    outcome = TaskOutcome(
        stage=meta.stage,
        index=index,
        agent=task.agent,
        key=task.key,
        status=TaskStatus.FAILED,
        attempts=max(len({a.number for a in attempts}), 1),
        started_at=started,
        ended_at=ended,
        trusted=trusted,
        reason=meta.stage_reason,
        model_usage=usage,
    )
    audit: dict[str, object] = {"stage": meta.stage, "index": index, "key": task.key, "attempts": outcome.attempts}
    if usage != ModelUsage():
        audit["model_usage"] = usage.model_dump()
    last = attempts[-1] if attempts else None
    succeeded = last.entry if last is not None and last.entry is not None else None
    error_type, error = (
        ("NoResult", "the task left no journal entry") if last is None else (last.error_type, last.error)
    )
    if succeeded is not None and succeeded.status is TaskStatus.NEEDS_APPROVAL:
        problem = _held_problem(catalog, task, succeeded)
        if problem is None:
            # held for a person: no step and no task record yet (the orchestrator asks for the approval, and records
            # the task's outcome once the approval is refused, or the re-delegated task's once it is granted)
            return outcome.model_copy(
                update={
                    "status": TaskStatus.NEEDS_APPROVAL,
                    "ended_at": succeeded.ended_at,
                    "pending_approval": succeeded.pending_approval,
                }
            )
        error_type, error = "AgentReportInvalid", problem
    elif succeeded is not None and succeeded.status is TaskStatus.SUCCEEDED:
        problem = _output_problem(catalog, task.agent, succeeded, agent.max_output_bytes)
        if problem is None and succeeded.output is not None:
            value_trusted = trusted and succeeded.output_trusted
            fold.context[task.key] = ContextEntry(
                value=succeeded.output, source=task.agent, trusted=value_trusted, stage=meta.stage, recorded_at=now
            )
            chain.append(
                AuditKind.TASK_SUCCEEDED,
                task.agent,
                now,
                trusted=value_trusted,
                output_hash=digest(succeeded.output),
                **audit,
            )
            return outcome.model_copy(
                update={"status": TaskStatus.SUCCEEDED, "ended_at": succeeded.ended_at, "trusted": value_trusted}
            )
        error_type, error = "AgentOutputInvalid", problem or "the agent reported success without an output"
    elif succeeded is not None:
        error_type, error = succeeded.error_type or "AgentTaskFailed", succeeded.error
    error = REDACTOR.redact(error or "")[:MAX_ERROR_CHARS]
    chain.append(
        AuditKind.TASK_FAILED, task.agent, now, error_type=error_type or "Unknown", error_hash=digest(error), **audit
    )
    return outcome.model_copy(update={"error_type": error_type, "error": error})


def _settle(
    catalog: Catalog,
    meta: RunMeta,
    index: int,
    task: TaskInput,
    attempts: list[_Attempt],
    chain: AuditChain,
    now: str,
    fold: StageFold,
) -> ModelUsage:
    """The model usage a task's attempts reported, added to the stage's; impossible reports audited (see above)."""
    model = catalog.agents[task.agent].model
    total = ModelUsage()
    for attempt in attempts:
        if attempt.entry is None:
            continue
        reported = attempt.entry.model_usage
        if reported == ModelUsage():
            continue
        allowance = task.allowance
        if min(reported.calls, reported.input_tokens, reported.output_tokens) < 0:
            # a negative figure would give the run budget back: counted as nothing
            what = "an agent reported negative model usage"
        elif model is None or allowance is None:
            what = "an agent without a model allowance reported model usage"
        elif reported.calls > allowance.calls or reported.output_tokens > allowance.output_tokens:
            what = "an agent reported more model calls or output tokens than its allowance"
        else:
            what = None
        if what is not None:
            chain.append(
                AuditKind.ANOMALY,
                ORCHESTRATOR,
                now,
                what=what,
                stage=meta.stage,
                index=index,
                attempt=attempt.number,
                agent=task.agent,
                reported=reported.model_dump(),
                allowance=None if allowance is None else allowance.model_dump(),
            )
        total = total + ModelUsage(
            calls=max(reported.calls, 0),
            input_tokens=max(reported.input_tokens, 0),
            output_tokens=max(reported.output_tokens, 0),
        )
    if total != ModelUsage():
        model_id = model.model_id if model is not None else f"(agent {task.agent}: no model)"
        fold.model_usage = fold.model_usage + total
        fold.usage_by_model[model_id] = fold.usage_by_model.get(model_id, ModelUsage()) + total
    return total


def _policy_detail(call: ToolCallRecord) -> dict[str, object]:
    """A tool-call record's policy answer and grant, if any (records of calls under no policy are as before)."""
    detail: dict[str, object] = {}
    if call.policy_effect is not None:
        detail |= {"policy_effect": call.policy_effect, "policy_ids": list(call.policy_ids)}
        if call.policy_log_only:
            detail["policy_log_only"] = True
    if call.grant_id is not None:
        detail["grant_id"] = call.grant_id
    return detail


def _held_problem(catalog: Catalog, task: TaskInput, entry: JournalEntry) -> str | None:
    """Why a report of a held call cannot be believed (None: it can)."""
    pending = entry.pending_approval
    if pending is None:
        return "the agent reported needs_approval without the pending call"
    if pending.agent != task.agent:
        return "the pending call names another agent"
    if pending.tool not in catalog.agents[task.agent].tools:
        return f"the pending call names tool {pending.tool!r}, outside the agent's allowlist"
    return None


def _settle_grants(
    meta: RunMeta,
    index: int,
    task: TaskInput,
    attempts: list[_Attempt],
    chain: AuditChain,
    now: str,
    fold: StageFold,
) -> None:
    """Each grant the task carried is consumed by the call that names it, or void: never handed out again.

    A call naming a grant the task was not given, a grant for another tool, or a grant named by two attempts
    (an infrastructure retry of an attempt that had already used it) is an anomaly.
    """
    grants = {grant.grant_id: grant for grant in task.grants}
    used: dict[str, list[int]] = defaultdict(list)
    for attempt in attempts:
        for call in attempt.entry.tool_calls if attempt.entry is not None else []:
            if call.grant_id is None:
                continue
            grant = grants.get(call.grant_id)
            what = None
            if grant is None:
                what = "a tool call named an approval grant its task was not given"
            elif grant.tool != call.tool:
                what = "a tool call used an approval grant given for another tool"
            if what is not None:
                chain.append(
                    AuditKind.ANOMALY,
                    ORCHESTRATOR,
                    now,
                    what=what,
                    stage=meta.stage,
                    index=index,
                    attempt=attempt.number,
                    tool=call.tool,
                    grant_id=call.grant_id,
                )
            if grant is not None and call.outcome in _RAN:
                used[call.grant_id].append(attempt.number)
    for grant_id in grants:
        numbers = sorted(set(used.get(grant_id, [])))
        if len(numbers) > 1:
            chain.append(
                AuditKind.ANOMALY,
                ORCHESTRATOR,
                now,
                what="an approval grant was used by more than one attempt",
                stage=meta.stage,
                index=index,
                grant_id=grant_id,
                attempts=numbers,
            )
        settled = SettledGrant(
            grant_id, meta.stage, index, consumed=bool(numbers), attempt=numbers[0] if numbers else None
        )
        chain.append(
            AuditKind.GRANT_SETTLED,
            ORCHESTRATOR,
            now,
            stage=meta.stage,
            index=index,
            agent=task.agent,
            grant_id=grant_id,
            approval_id=grant_id,
            state="consumed" if settled.consumed else "void",
            **({} if settled.attempt is None else {"attempt": settled.attempt}),
        )
        fold.settled.append(settled)


def _output_problem(catalog: Catalog, agent_name: str, entry: JournalEntry, max_bytes: int) -> str | None:
    """Re-validate what the agent reported: a compromised agent cannot smuggle other shapes into state."""
    if entry.output is None:
        return "the agent reported success without an output"
    size = len(json.dumps(entry.output).encode())
    if size > max_bytes:
        return f"output of {size} bytes exceeds the agent's limit of {max_bytes}"
    try:
        catalog.agents[agent_name].output_model.model_validate(entry.output)
    except ValidationError as error:
        return "output failed its model: " + invalid_fields(error)
    return None


def _cause_message(cause: str | None) -> str:
    """Step Functions wraps a Lambda error as JSON {errorType, errorMessage}; keep only the message."""
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage", ""))
    return cause
