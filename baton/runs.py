"""Starting runs and reading them back: shared by the API function and the offline engine.

Starting a run writes only a start request (and an idempotency item) and starts the execution named after
the run; the orchestrator's first Plan creates the run from it. So the API's role can create requests but
never touch a run's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from baton import keys
from baton.ai.cost import CostEstimate, estimate_cost
from baton.approvals import Approval
from baton.audit import digest
from baton.catalog import Catalog
from baton.clock import expires_at_for, now_iso
from baton.models import ContextEntry, ModelUsage, RunStatus, TaskOutcome, invalid_fields
from baton.store import SCHEMA_VERSION, RunNotFound, StartRequest, StateStore


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
    def __init__(self, catalog: Catalog, store: StateStore, executions: ExecutionStarter) -> None:
        self._catalog = catalog
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
    ) -> StartedRun:
        workflow = self._catalog.workflows.get(workflow_name)
        if workflow is None:
            raise InvalidRunInput(f"unknown workflow {workflow_name!r}", ["workflow"])
        try:
            validated = workflow.input_model.model_validate(raw_input).model_dump(mode="json")
        except ValidationError as error:
            fields = invalid_fields(error)
            raise InvalidRunInput(
                f"input for {workflow_name!r} is invalid: {fields}", [f.strip() for f in fields.split(",")]
            ) from None
        request = StartRequest(
            run_id=keys.new_run_id(workflow.name),
            workflow=workflow.name,
            input=validated,
            caller=caller,
            caller_source_identity=source_identity,
            idempotency_key=idempotency_key,
            requested_at=now_iso(),
            expires_at=expires_at_for(workflow.run_retention_days),
        )
        idempotency = None if idempotency_key is None else (idempotency_key, digest(validated))
        run_id = self._store.put_start(request, idempotency)
        repeated = run_id != request.run_id
        if not (repeated and workflow.execution == "express"):
            # Standard executions are named after the run, so starting again on an idempotent repeat is harmless
            # and covers a first request that stored the run and died before starting it. Express executions
            # are not deduplicated by name: a repeat must not start a second one.
            self._executions.start(workflow.name, run_id)
        return StartedRun(run_id=run_id, workflow=workflow.name, repeated=repeated)


class RunRecord(BaseModel):
    """Everything about one run: what `--out` writes, `baton audit verify` checks, and `GET /runs/{id}` summarises."""

    model_config = ConfigDict(extra="forbid")

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
    )
