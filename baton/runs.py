"""Starting runs and reading them back: shared by the API function and the offline CLI."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from baton.audit import GENESIS_HASH, AuditChain, AuditKind, canonical_json
from baton.catalog import Catalog
from baton.models import ContextEntry, RunStatus, TaskOutcome, invalid_fields
from baton.orchestrator import ORCHESTRATOR, expires_at_for
from baton.state import Item, RunMeta, StateStore, audit_item, check_size, context_item
from baton.tools import now_iso


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
            raise InvalidRunInput(f"workflow {workflow!r} is not deployed here")
        try:
            self._sfn.start_execution(
                stateMachineArn=arn, name=run_id, input=json.dumps({"run_id": run_id, "stage": 0})
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise


def new_run_id() -> str:
    """Sortable by start time, unguessable, and a valid Step Functions execution name."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"


class RunStarter:
    def __init__(self, catalog: Catalog, store: StateStore, executions: ExecutionStarter) -> None:
        self._catalog = catalog
        self._store = store
        self._executions = executions

    def start(self, workflow_name: str, raw_input: Any, idempotency_key: str | None = None) -> RunMeta:
        workflow = self._catalog.workflows.get(workflow_name)
        if workflow is None:
            raise InvalidRunInput(f"unknown workflow {workflow_name!r}", ["workflow"])
        try:
            validated = workflow.input_model.model_validate(raw_input)
        except ValidationError as error:
            fields = invalid_fields(error)
            raise InvalidRunInput(
                f"input for {workflow_name!r} is invalid: {fields}", [f.strip() for f in fields.split(",")]
            ) from None
        run_id = new_run_id()
        now = now_iso()
        expires_at = expires_at_for(workflow, time.time())
        items: list[Item] = []
        for key, value in validated.model_dump(mode="json").items():
            entry = ContextEntry(
                value=value, source="input", trusted=key in workflow.trusted_input_keys, stage=0, recorded_at=now
            )
            check_size(f"input field {key!r}", entry.model_dump_json())
            items.append(context_item(run_id, key, entry, expires_at))
        chain = AuditChain(run_id, 0, GENESIS_HASH)
        chain.append(
            AuditKind.RUN_STARTED,
            ORCHESTRATOR,
            now,
            workflow=workflow.name,
            input_keys=sorted(type(validated).model_fields),
            idempotency_key=idempotency_key,
        )
        items.extend(audit_item(record, expires_at) for record in chain.records)
        meta = RunMeta(
            run_id=run_id,
            workflow=workflow.name,
            status=RunStatus.RUNNING,
            version=1,
            stage=0,
            audit_seq=chain.last_seq,
            audit_head=chain.head,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
        )
        idempotency = None
        if idempotency_key is not None:
            request_hash = hashlib.sha256(canonical_json(validated.model_dump(mode="json")).encode()).hexdigest()
            idempotency = (idempotency_key, request_hash)
        stored = self._store.create_run(meta, items, idempotency)
        repeat = stored.run_id != run_id
        if (
            stored.status is RunStatus.RUNNING
            and stored.stage == 0
            and not (repeat and workflow.execution == "express")
        ):
            # Standard executions are named after the run, so starting again on an idempotent repeat is harmless
            # and covers a first request that stored the run and died before starting it. Express executions
            # are not deduplicated by name: a repeat must not start a second one.
            self._executions.start(workflow.name, stored.run_id)
        return stored


class RunRecord(BaseModel):
    """Everything about one run: what `--out` writes and `GET /runs/{run_id}` summarises."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    workflow: str
    status: RunStatus
    result: dict[str, JsonValue] | None
    reason: str | None
    created_at: str
    updated_at: str
    steps: list[TaskOutcome]
    context: dict[str, ContextEntry]
    audit_head: str
    audit: list[dict[str, JsonValue]]


def read_run(store: StateStore, run_id: str, with_audit: bool = True) -> RunRecord:
    meta = store.load_meta(run_id)
    return RunRecord(
        run_id=meta.run_id,
        workflow=meta.workflow,
        status=meta.status,
        result=meta.result,
        reason=meta.reason,
        created_at=meta.created_at,
        updated_at=meta.updated_at,
        steps=sorted(store.load_history(run_id), key=lambda o: (o.stage, o.index)),
        context=store.load_context(run_id),
        audit_head=meta.audit_head,
        audit=store.load_audit(run_id, meta.audit_seq) if with_audit else [],
    )
