"""Guardrails on a planner's decision, before anything is committed. Pure: a decision in, a decision out.

A planner is code or a model; either way its answer is untrusted until checked here: it must be a valid
Decision, name only the workflow's agents, stay within the workflow's budgets, never overwrite the run's
input, and fit what DynamoDB and Step Functions can carry. A refused decision becomes a Fail whose reason
says why, and the denial is audited by the orchestrator.
"""

from __future__ import annotations

import json
from functools import cache
from typing import NamedTuple

from pydantic import TypeAdapter, ValidationError

from baton.catalog import Catalog, WorkflowSpec
from baton.models import AwaitApproval, Decision, Delegate, Fail, Finish, invalid_fields
from baton.store import MAX_VALUE_BYTES

# a task item holds scoped context plus params; params alone get a tenth of the item
MAX_PARAMS_BYTES = MAX_VALUE_BYTES // 10
MAX_REASON_CHARS = 1_000
# a decision of exactly one of these classes is validated again by its own class (the validator the planner's
# construction built); a subclass or anything else by the Decision union, built only if such an answer comes
_DECISION_CLASSES = (Delegate, AwaitApproval, Finish, Fail)


@cache
def _decision_adapter() -> TypeAdapter[Decision]:
    return TypeAdapter(Decision)


class Guarded(NamedTuple):
    decision: Decision
    denial: str | None = None  # why the planner's decision was refused (then `decision` is a Fail)


def guard(raw: object, workflow: WorkflowSpec, stage: int, catalog: Catalog | None = None) -> Guarded:
    """`catalog`: what an AwaitApproval's tool and arguments are checked against (without it, one naming a tool
    is refused)."""
    try:
        if isinstance(raw, _DECISION_CLASSES):
            # validated again from its fields: a planner may have changed them after construction (its kind too)
            exact = type(raw) in _DECISION_CLASSES
            validate = type(raw).model_validate if exact else _decision_adapter().validate_python
            decision = validate(raw.model_dump())
        else:
            decision = _decision_adapter().validate_python(raw)
    except ValidationError as error:
        return _deny(f"the planner returned no valid decision ({invalid_fields(error)})")
    if isinstance(decision, Delegate):
        return _guard_delegate(decision, workflow, stage, catalog)
    if isinstance(decision, AwaitApproval):
        return _guard_await(decision, workflow, stage, catalog)
    if isinstance(decision, Finish):
        size = len(json.dumps(decision.result).encode())
        if size > MAX_VALUE_BYTES:
            return _deny(f"result of {size} bytes is larger than {MAX_VALUE_BYTES}")
        return Guarded(decision)
    return Guarded(Fail(reason=decision.reason[:MAX_REASON_CHARS]))


def _guard_delegate(decision: Delegate, workflow: WorkflowSpec, stage: int, catalog: Catalog | None = None) -> Guarded:
    budgets = workflow.budgets
    outside = sorted({t.agent for t in decision.tasks} - set(workflow.agents) - set(workflow.children))
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
        if task.agent in workflow.children:  # a child workflow's input is the task's params (baton.children)
            child = catalog.workflows.get(task.agent) if catalog is not None else None
            if child is None:
                return _deny(f"the input of child workflow {task.agent!r} cannot be checked")
            try:
                child.input_model.model_validate(task.params)
            except ValidationError as error:
                return _deny(f"the input of child workflow {task.agent!r} fails its model ({invalid_fields(error)})")
    if decision.reconcile is not None:
        from baton.reconcile import reconcile_problem

        problem = reconcile_problem(decision.reconcile, decision.tasks, workflow, catalog)
        if problem is not None:
            return _deny(problem)
    return Guarded(decision.model_copy(update={"reason": decision.reason[:MAX_REASON_CHARS]}))


def _guard_await(decision: AwaitApproval, workflow: WorkflowSpec, stage: int, catalog: Catalog | None) -> Guarded:
    """The held task is checked as a one-task stage; its tool must be the agent's, its arguments valid for it."""
    if workflow.approvals is None:
        return _deny(f"the planner awaits approval, but workflow {workflow.name!r} declares no approvers")
    if decision.task.agent in workflow.children:
        return _deny(f"the planner awaits approval of child workflow {decision.task.agent!r}: only agents are held")
    delegated = _guard_delegate(Delegate(tasks=[decision.task], reason=decision.reason), workflow, stage)
    if delegated.denial is not None:
        return delegated
    if decision.tool is None:
        if decision.arguments:
            return _deny("the planner gave arguments for an approval without a tool")
    else:
        agent = catalog.agents.get(decision.task.agent) if catalog is not None else None
        if agent is None or decision.tool not in agent.tools or catalog is None:
            return _deny(f"the planner awaits approval of tool {decision.tool!r}, not one of its agent's tools")
        try:
            catalog.tools[decision.tool].arguments.model_validate(decision.arguments)
        except ValidationError as error:
            return _deny(f"the arguments to approve fail tool {decision.tool!r}'s model ({invalid_fields(error)})")
        size = len(json.dumps(decision.arguments).encode())
        if size > MAX_PARAMS_BYTES:
            return _deny(f"the arguments to approve are {size} bytes, more than {MAX_PARAMS_BYTES}")
    return Guarded(decision.model_copy(update={"reason": decision.reason[:MAX_REASON_CHARS]}))


def _deny(reason: str) -> Guarded:
    return Guarded(Fail(reason=f"denied: {reason}"), denial=reason)
