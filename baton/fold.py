"""Folding a finished stage into the run: what each task's attempts produced, checked, with provenance.

Pure: journal items in, outcomes, context values and audit records out. What an agent reports about its
own attempt is believed only as far as it can be checked: its output must pass the agent's output model
and size limit, and its trust is recomputed from the catalog (an agent can lower it, never raise it). The
attempt order, the execution and the stage come from the state machine, which wrote the journal items.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import ValidationError

from baton.audit import AuditChain, AuditKind, digest
from baton.catalog import Catalog
from baton.models import ContextEntry, JournalEntry, TaskInput, TaskOutcome, TaskStatus, invalid_fields
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
    return fold


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
    for attempt in attempts:
        if attempt.entry is None:
            continue
        for call in attempt.entry.tool_calls:
            tool = catalog.tools.get(call.tool)
            if call.outcome in _RAN and (tool is None or not tool.output_trusted):
                trusted = False
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
            )
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
    )
    audit = {"stage": meta.stage, "index": index, "key": task.key, "attempts": outcome.attempts}
    last = attempts[-1] if attempts else None
    succeeded = last.entry if last is not None and last.entry is not None else None
    error_type, error = (
        ("NoResult", "the task left no journal entry") if last is None else (last.error_type, last.error)
    )
    if succeeded is not None and succeeded.status is TaskStatus.SUCCEEDED:
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
