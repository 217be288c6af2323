"""Hierarchical orchestration: a parent run delegates a task to a child workflow (`WorkflowSpec.children`).

The planner names the child workflow as a task's agent and passes the child's input as the task's params. The
orchestrator writes the child run's start request (with `parent_run_id`, the parent's caller and source identity, and
a budget drawn from the parent's remaining budget) and a task item naming the child run; the state machine's Map
starts the child execution for that item with `states:startExecution.sync:2` and waits for it; the child, a run of
its own workflow with its own agents and orchestrator, keeps its own state and its own signed audit chain. When the
parent's next Plan folds the stage, each child task is folded from the child's run record (never from anything the
child execution returned): its result becomes the task's output, trusted only if the child's result is and the
task's input was; a failed (or missing, or unfinished) child is a failed task the parent's planner sees; the child's
model usage and stages are counted against the parent's, and the parent's chain records the child's final head.

Pure but for the one read of each child's run record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from baton import keys
from baton.audit import AuditChain, AuditKind, digest
from baton.catalog import Budgets, WorkflowSpec
from baton.models import (
    ChildBudget,
    ContextEntry,
    ModelAllowance,
    ModelUsage,
    RunStatus,
    TaskInput,
    TaskOutcome,
    TaskStatus,
)
from baton.planner import add_by_model
from baton.redaction import REDACTOR
from baton.store import RecordedAttempt, RunMeta, StartRequest, StateStore

ORCHESTRATOR = "orchestrator"
# the EventBridge rule Step Functions manages for `.sync` integrations (a parent's state machine role may use it)
SYNC_EVENTS_RULE_NAME = "StepFunctionsGetEventsForStepFunctionsExecutionRule"
CHILD_FAILED = "ChildRunFailed"
CHILD_UNFINISHED = "ChildRunUnfinished"
MAX_ERROR_CHARS = 500


def children_first(workflows: dict[str, WorkflowSpec]) -> list[WorkflowSpec]:
    """Every workflow after its child workflows (the catalog refuses cycles), otherwise in the catalog's order: what
    deploys a parent once its children's state machines exist (their ARNs are in its orchestrator's settings)."""
    ordered: dict[str, WorkflowSpec] = {}

    def visit(workflow: WorkflowSpec) -> None:
        for child in workflow.children:
            if child not in ordered and child in workflows:
                visit(workflows[child])
        ordered.setdefault(workflow.name, workflow)

    for workflow in workflows.values():
        visit(workflow)
    return list(ordered.values())


def child_run_id(workflow: str, parent_run_id: str, stage: int, index: int) -> str:
    """Fixed by the parent's task: a replayed Plan or a retried start maps to the same child run and execution."""
    return keys.derived_run_id(workflow, f"{parent_run_id}#{stage}#{index}")


def effective_budgets(workflow: WorkflowSpec, meta: RunMeta) -> Budgets:
    """The run's budgets: its workflow's, capped by what its parent allotted it, less what its descendants used."""
    own = workflow.budgets
    if meta.budget is None and not meta.child_stages:
        return own
    drawn = meta.budget
    update: dict[str, int] = {
        "max_stages": min(own.max_stages, own.max_stages if drawn is None else drawn.max_stages) - meta.child_stages
    }
    if drawn is not None:
        update |= {
            "max_model_calls": min(own.max_model_calls, drawn.model.calls),
            "max_input_tokens": min(own.max_input_tokens, drawn.model.input_tokens),
            "max_output_tokens": min(own.max_output_tokens, drawn.model.output_tokens),
        }
    return own.model_copy(update=update)


def child_budget(budgets: Budgets, next_stage: int, children: int, model: ModelAllowance) -> ChildBudget:
    """One child's share of what its parent has left once the delegating stage is counted: the parent's remaining
    stages split evenly among the stage's children (so the tree's stages never exceed the root's), and its model
    share (the caller splits the model budget among the stage's model-backed agents and children)."""
    left = max(budgets.max_stages - next_stage, 0)
    return ChildBudget(max_stages=left // max(children, 1), model=model)


def child_start(
    parent: RunMeta,
    workflow: WorkflowSpec,
    run_id: str,
    task: TaskInput,
    budget: ChildBudget,
    requested_at: str,
) -> StartRequest:
    """The child's start request: its input (validated by its workflow's model), the parent's caller and source
    identity, the budget drawn from the parent, and the input keys that reach it untrusted."""
    validated = workflow.input_model.model_validate(task.payload).model_dump(mode="json")
    return StartRequest(
        run_id=run_id,
        workflow=workflow.name,
        input=validated,
        caller=parent.caller,
        caller_source_identity=parent.caller_source_identity,
        requested_at=requested_at,
        expires_at=parent.expires_at,
        parent_run_id=parent.run_id,
        budget=budget,
        untrusted_keys=sorted(set(task.untrusted_keys) & set(validated)),
    )


@dataclass
class ChildFold:
    outcomes: list[TaskOutcome] = field(default_factory=list)
    context: dict[str, ContextEntry] = field(default_factory=dict)
    model_usage: ModelUsage = field(default_factory=ModelUsage)
    usage_by_model: dict[str, ModelUsage] = field(default_factory=dict)
    stages: int = 0  # the stages the children (and their descendants) used


def fold_children(
    store: StateStore,
    meta: RunMeta,
    tasks: dict[int, TaskInput],
    recorded: list[RecordedAttempt],
    chain: AuditChain,
    now: str,
) -> ChildFold:
    """Each child task of the finished stage, from its child's run record."""
    fold = ChildFold()
    crashes = {r.index: r for r in recorded if r.entry_json is None and r.execution == meta.execution}
    for index, task in sorted(tasks.items()):
        child_id = task.child_run_id
        if child_id is None:
            continue
        child = store.find_meta(child_id)
        task_trusted = not task.untrusted_keys
        outcome = TaskOutcome(
            stage=meta.stage,
            index=index,
            agent=task.agent,
            key=task.key,
            status=TaskStatus.FAILED,
            attempts=1,
            started_at=now if child is None else child.created_at,
            ended_at=now if child is None else child.updated_at,
            trusted=task_trusted,
            reason=meta.stage_reason,
            child_run_id=child_id,
        )
        if child is None or child.parent_run_id != meta.run_id or child.workflow != task.agent:
            crash = crashes.get(index)
            what = "was never started" if child is None else "is not this task's child"
            error = f"child run {child_id} {what}" + (f": {crash.error}" if crash is not None and crash.error else "")
            fold.outcomes.append(_failed(outcome, CHILD_UNFINISHED, error, chain, now))
            continue
        fold.model_usage = fold.model_usage + child.model_usage
        fold.usage_by_model = add_by_model(fold.usage_by_model, child.model_usage_by_model)
        fold.stages += child.stage + child.child_stages
        chain.append(
            AuditKind.CHILD_RUN_ENDED,
            ORCHESTRATOR,
            now,
            stage=meta.stage,
            index=index,
            key=task.key,
            child_run_id=child_id,
            workflow=child.workflow,
            status=child.status.value,
            audit_seq=child.audit_seq,
            audit_head=child.audit_head,
            stages=child.stage + child.child_stages,
            **({"result_hash": digest(child.result)} if child.result is not None else {}),
            **({"model_usage": child.model_usage.model_dump()} if child.model_usage != ModelUsage() else {}),
        )
        if child.status is RunStatus.SUCCEEDED and child.result is not None:
            trusted = task_trusted and child.result_trusted is True
            fold.context[task.key] = ContextEntry(
                value=child.result,
                source=f"workflow:{child.workflow}",
                trusted=trusted,
                stage=meta.stage,
                recorded_at=now,
            )
            chain.append(
                AuditKind.TASK_SUCCEEDED,
                task.agent,
                now,
                trusted=trusted,
                output_hash=digest(child.result),
                stage=meta.stage,
                index=index,
                key=task.key,
                attempts=1,
                child_run_id=child_id,
            )
            fold.outcomes.append(outcome.model_copy(update={"status": TaskStatus.SUCCEEDED, "trusted": trusted}))
            continue
        if child.status is RunStatus.RUNNING:
            error = f"child run {child_id} had not finished when its parent's stage ended"
            fold.outcomes.append(_failed(outcome, CHILD_UNFINISHED, error, chain, now))
            continue
        # a child's failure reason may echo data its planner read: the planner routes on the status (statuses())
        error = f"child run {child_id} failed: {child.reason or 'no reason given'}"
        failed = outcome.model_copy(update={"trusted": task_trusted and child.result_trusted is True})
        fold.outcomes.append(_failed(failed, CHILD_FAILED, error, chain, now))
    return fold


def _failed(outcome: TaskOutcome, error_type: str, error: str, chain: AuditChain, now: str) -> TaskOutcome:
    error = REDACTOR.redact(error)[:MAX_ERROR_CHARS]
    chain.append(
        AuditKind.TASK_FAILED,
        outcome.agent,
        now,
        error_type=error_type,
        error_hash=digest(error),
        stage=outcome.stage,
        index=outcome.index,
        key=outcome.key,
        attempts=outcome.attempts,
        child_run_id=outcome.child_run_id,
    )
    return outcome.model_copy(update={"error_type": error_type, "error": error})
