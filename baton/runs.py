"""Starting runs and reading them back: shared by the API function and the offline engine.

Starting a run writes only a start request (and an idempotency item) and starts the execution named after
the run; the orchestrator's first Plan creates the run from it. So the API's role can create requests but
never touch a run's state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from baton import keys
from baton.ai.cost import CostEstimate, estimate_cost
from baton.approvals import Approval
from baton.audit import digest
from baton.catalog import WorkflowSpec
from baton.clock import expires_at_for, now_iso
from baton.models import ContextEntry, ModelUsage, RunStatus, TaskOutcome, TriggerEvent, invalid_fields
from baton.store import SCHEMA_VERSION, ConcurrentUpdate, RunNotFound, StartRequest, StateStore


class InvalidRunInput(ValueError):
    """The request names an unknown workflow or its input fails the workflow's model."""

    def __init__(self, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or []


class ExecutionStarter:
    """Step Functions adapter: the execution is named after the run, so starting twice is harmless."""

    def __init__(self, stepfunctions_client: Any, state_machines: dict[str, str]) -> None:
        self._sfn = stepfunctions_client
        self._state_machines = state_machines

    def start(self, workflow: str, run_id: str) -> None:
        arn = self._state_machines.get(workflow)
        if arn is None:
            raise InvalidRunInput(f"workflow {workflow!r} is not deployed here", ["workflow"])
        try:
            self._sfn.start_execution(
                stateMachineArn=arn, name=run_id, input=json.dumps({"run_id": run_id, "stage": 0})
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    workflow: str
    repeated: bool  # an idempotent repeat of an earlier request


class RunStarter:
    def __init__(self, workflows: Mapping[str, WorkflowSpec], store: StateStore, executions: ExecutionStarter) -> None:
        self._workflows = workflows
        self._store = store
        self._executions = executions

    def start(
        self,
        workflow_name: str,
        raw_input: Any,
        caller: str,
        idempotency_key: str | None = None,
        *,
        source_identity: str | None = None,
        run_id: str | None = None,
        trigger: TriggerEvent | None = None,
    ) -> StartedRun:
        """Start a run; `run_id` (derived from what caused the run: keys.derived_run_id) makes a repeat of the same
        cause start nothing new (repeated=True); `trigger`: the event that caused it (baton.triggers)."""
        workflow = self._workflows.get(workflow_name)
        if workflow is None:
            raise InvalidRunInput(f"unknown workflow {workflow_name!r}", ["workflow"])
        try:
            validated = workflow.input_model.model_validate(raw_input).model_dump(mode="json")
        except ValidationError as error:
            fields = invalid_fields(error)
            raise InvalidRunInput(
                f"input for {workflow_name!r} is invalid: {fields}", [f.strip() for f in fields.split(",")]
            ) from None
        if run_id is not None and keys.workflow_of(run_id) != workflow.name:
            raise InvalidRunInput(f"run id {run_id!r} is not a run id of {workflow.name!r}", ["run_id"])
        request = StartRequest(
            run_id=run_id or keys.new_run_id(workflow.name),
            workflow=workflow.name,
            input=validated,
            caller=caller,
            caller_source_identity=source_identity,
            idempotency_key=idempotency_key,
            requested_at=now_iso(),
            expires_at=expires_at_for(workflow.run_retention_days),
            trigger=trigger,
        )
        idempotency = None if idempotency_key is None else (idempotency_key, digest(validated))
        try:
            stored = self._store.put_start(request, idempotency)
            repeated = stored != request.run_id
        except ConcurrentUpdate:
            if run_id is None or idempotency is not None:
                raise
            stored, repeated = request.run_id, True  # a derived run id requested before: the same cause again
        run_id = stored
        if not (repeated and workflow.execution == "express"):
            # Standard executions are named after the run, so starting again on an idempotent repeat is harmless
            # and covers a first request that stored the run and died before starting it. Express executions
            # are not deduplicated by name: a repeat must not start a second one.
            self._executions.start(workflow.name, run_id)
        return StartedRun(run_id=run_id, workflow=workflow.name, repeated=repeated)


class RunRecord(BaseModel):
    """Everything about one run: what `--out` writes, `baton audit verify` checks, and `GET /runs/{id}` summarises."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built at first use (see models.Strict)

    schema_version: int = SCHEMA_VERSION
    run_id: str
    workflow: str
    status: RunStatus
    result: dict[str, JsonValue] | None
    reason: str | None
    caller: str
    created_at: str
    updated_at: str
    steps: list[TaskOutcome]
    context: dict[str, ContextEntry]
    audit_head: str
    audit_key_id: str
    audit: list[dict[str, JsonValue]]
    # model calls and tokens of the run (its planner's and its agents'), by model id, and their estimated cost
    # (baton.ai.cost: dated list prices; None when the run made no model call)
    model_usage: ModelUsage = Field(default_factory=ModelUsage)
    model_usage_by_model: dict[str, ModelUsage] = Field(default_factory=dict)
    model_cost: CostEstimate | None = None
    # the approvals the run waits for (the run record's copies: binding and state, no arguments)
    approvals: list[Approval] = Field(default_factory=list)
    # hierarchical runs (baton.children): the run that started this one, and (`with_children`, what `--out` writes)
    # the records of the child runs its steps started, each with its own audit trail
    parent_run_id: str | None = None
    children: list[RunRecord] = Field(default_factory=list)
    # the event-driven pattern (baton.triggers): the event that started this run
    trigger: TriggerEvent | None = None


def read_run(store: StateStore, run_id: str, with_audit: bool = True) -> RunRecord:
    meta = store.find_meta(run_id)
    if meta is None:
        start = store.load_start(run_id)
        if start is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        # requested, not yet begun by its orchestrator
        return RunRecord(
            run_id=run_id,
            workflow=start.workflow,
            status=RunStatus.RUNNING,
            result=None,
            reason=None,
            caller=start.caller,
            created_at=start.requested_at,
            updated_at=start.requested_at,
            steps=[],
            context={},
            audit_head="",
            audit_key_id="",
            audit=[],
        )
    return RunRecord(
        schema_version=meta.schema_version,
        run_id=meta.run_id,
        workflow=meta.workflow,
        status=meta.status,
        result=meta.result,
        reason=meta.reason,
        caller=meta.caller,
        created_at=meta.created_at,
        updated_at=meta.updated_at,
        steps=sorted(store.load_history(run_id), key=lambda o: (o.stage, o.index)),
        context=store.load_context(run_id),
        audit_head=meta.audit_head,
        audit_key_id=meta.audit_key_id,
        audit=store.load_audit(run_id, meta.audit_seq) if with_audit else [],
        model_usage=meta.model_usage,
        model_usage_by_model=meta.model_usage_by_model,
        model_cost=estimate_cost(meta.model_usage_by_model) if meta.model_usage.calls else None,
        approvals=meta.approvals,
        parent_run_id=meta.parent_run_id,
        trigger=meta.trigger,
    )


def with_children(store: StateStore, record: RunRecord, depth: int = 8) -> RunRecord:
    """The record with the records of the child runs its steps started (theirs too, `depth` levels down)."""
    if depth <= 0:
        return record
    children = []
    for child_id in dict.fromkeys(s.child_run_id for s in record.steps if s.child_run_id is not None):
        try:
            children.append(with_children(store, read_run(store, child_id), depth - 1))
        except RunNotFound:
            continue
    return record.model_copy(update={"children": children}) if children else record
