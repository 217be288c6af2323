"""Guardrails on a planner's decision, before anything is committed. Pure: a decision in, a decision out.

A planner is code or a model; either way its answer is untrusted until checked here: it must be a valid
Decision, name only the workflow's agents, stay within the workflow's budgets, never overwrite the run's
input, and fit what DynamoDB and Step Functions can carry. A refused decision becomes a Fail whose reason
says why, and the denial is audited by the orchestrator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from baton.catalog import WorkflowSpec
from baton.models import Decision, Delegate, Fail, Finish, invalid_fields
from baton.store import MAX_VALUE_BYTES

# a task item holds scoped context plus params; params alone get a tenth of the item
MAX_PARAMS_BYTES = MAX_VALUE_BYTES // 10
MAX_REASON_CHARS = 1_000
_DECISION: TypeAdapter[Decision] = TypeAdapter(Decision)


@dataclass(frozen=True)
class Guarded:
    decision: Decision
    denial: str | None = None  # why the planner's decision was refused (then `decision` is a Fail)


def guard(raw: object, workflow: WorkflowSpec, stage: int) -> Guarded:
    try:
        decision = _DECISION.validate_python(raw.model_dump() if isinstance(raw, Delegate | Finish | Fail) else raw)
    except ValidationError as error:
        return _deny(f"the planner returned no valid decision ({invalid_fields(error)})")
    if isinstance(decision, Delegate):
        return _guard_delegate(decision, workflow, stage)
    if isinstance(decision, Finish):
        size = len(json.dumps(decision.result).encode())
        if size > MAX_VALUE_BYTES:
            return _deny(f"result of {size} bytes is larger than {MAX_VALUE_BYTES}")
        return Guarded(decision)
    return Guarded(Fail(reason=decision.reason[:MAX_REASON_CHARS]))


def _guard_delegate(decision: Delegate, workflow: WorkflowSpec, stage: int) -> Guarded:
    budgets = workflow.budgets
    outside = sorted({t.agent for t in decision.tasks} - set(workflow.agents))
    if outside:
        return _deny(f"planner chose agents outside workflow {workflow.name!r}: {outside}")
    if len(decision.tasks) > budgets.max_tasks_per_stage:
        return _deny(f"stage of {len(decision.tasks)} tasks exceeds {budgets.max_tasks_per_stage}")
    if stage + 1 > budgets.max_stages:
        return _deny(f"run exceeded its budget of {budgets.max_stages} stages")
    task_keys = [t.output_key for t in decision.tasks]
    if len(set(task_keys)) != len(task_keys) or set(workflow.input_model.model_fields) & set(task_keys):
        return _deny(f"output keys {task_keys} repeat or overwrite the run's input")
    for task in decision.tasks:
        size = len(json.dumps(task.params).encode())
        if size > MAX_PARAMS_BYTES:
            return _deny(f"params of the {task.agent!r} task are {size} bytes, more than {MAX_PARAMS_BYTES}")
    return Guarded(decision.model_copy(update={"reason": decision.reason[:MAX_REASON_CHARS]}))


def _deny(reason: str) -> Guarded:
    return Guarded(Fail(reason=f"denied: {reason}"), denial=reason)
