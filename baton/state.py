"""The state store on DynamoDB: the only module of the runtime that speaks DynamoDB's wire format.

One table holds every run (key schema: baton.keys). Values are JSON text validated by pydantic when read
back, never pickle; attribute values are built by baton.attribute_values. Every item carries the TTL
attribute except audit records, which are never expired.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from baton import keys
from baton.approvals import Approval, ApprovalState, TaskToken
from baton.attribute_values import Stored, from_item, to_attribute, to_item
from baton.audit import AuditRecord, canonical_json
from baton.models import ContextEntry, PriorCall, RunStatus, TaskInput, TaskOutcome
from baton.store import (
    MAX_VALUE_BYTES,
    Commit,
    ConcurrentUpdate,
    IdempotencyConflict,
    RecordedAttempt,
    RunMeta,
    RunNotFound,
    RunSnapshot,
    StartRequest,
    StateError,
)

TTL_ATTRIBUTE = "expires_at"
# TransactWriteItems takes at most 100 items
_TRANSACTION_ITEMS = 100


def check_size(label: str, text: str) -> None:
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise StateError(f"{label} is larger than {MAX_VALUE_BYTES} bytes")


def _item(pk: str, sk: str, expires_at: int | None, **attributes: Stored) -> dict[str, Any]:
    for name, value in attributes.items():
        if isinstance(value, str):
            check_size(f"{name} of {pk} {sk}", value)
    plain: dict[str, Stored] = {"pk": pk, "sk": sk, **attributes}
    if expires_at is not None:
        plain[TTL_ATTRIBUTE] = expires_at
    return to_item(plain)


def _meta_item(meta: RunMeta) -> dict[str, Any]:
    # only a running run with a deadline is in the sparse open-runs index
    open_run: dict[str, str | int] = {}
    if meta.deadline is not None and meta.status is RunStatus.RUNNING:
        open_run = {keys.OPEN_WORKFLOW: meta.workflow, keys.OPEN_DEADLINE: meta.deadline}
    return _item(
        keys.run_pk(meta.run_id),
        keys.META,
        meta.expires_at,
        meta_json=meta.model_dump_json(),
        version=meta.version,
        status=meta.status.value,
        workflow=meta.workflow,
        **open_run,
    )


def _audit_item(record: AuditRecord, signature: str | None) -> dict[str, Any]:
    attributes: dict[str, str] = {"record_json": canonical_json(record.model_dump(mode="json"))}
    if signature is not None:
        attributes["signature"] = signature
    return _item(keys.run_pk(record.run_id), keys.audit_sk(record.seq), None, **attributes)


def _approval_item(approval: Approval, expires_at: int) -> dict[str, Any]:
    return _item(
        keys.approval_pk(approval.run_id),
        approval.approval_id,
        expires_at,
        approval_json=approval.model_dump_json(),
        state=approval.state.value,
    )


_PRIOR_CALLS = TypeAdapter(list[PriorCall])


def _ledger_item(run_id: str, tool: str, calls: list[PriorCall], expires_at: int) -> dict[str, Any]:
    calls_json = _PRIOR_CALLS.dump_json(calls).decode()
    return _item(keys.run_pk(run_id), keys.calls_sk(tool), expires_at, calls_json=calls_json)


def commit_items(commit: Commit) -> list[dict[str, Any]]:
    """The items of a commit, other than the run record; the last audit record carries the head's signature."""
    meta = commit.meta
    items = [
        _item(keys.run_pk(meta.run_id), keys.ctx_sk(key), meta.expires_at, entry_json=entry.model_dump_json())
        for key, entry in commit.context.items()
    ]
    items += [
        _item(
            keys.run_pk(meta.run_id),
            keys.step_sk(step.stage, step.index),
            meta.expires_at,
            outcome_json=step.model_dump_json(),
        )
        for step in commit.steps
    ]
    latest = {step.key: step for step in commit.steps}  # the newest outcome of each output key in the commit
    items += [
        _item(keys.run_pk(meta.run_id), keys.latest_sk(key), meta.expires_at, outcome_json=step.model_dump_json())
        for key, step in latest.items()
    ]
    items += [
        _item(
            keys.task_pk(meta.run_id),
            keys.task_sk(meta.stage, index),
            meta.expires_at,
            task_json=task.model_dump_json(),
        )
        for index, task in commit.tasks.items()
    ]
    items += [_ledger_item(meta.run_id, tool, calls, meta.expires_at) for tool, calls in commit.ledgers.items()]
    items += [_approval_item(approval, meta.expires_at) for approval in commit.approvals]
    last = len(commit.audit) - 1
    signature = meta.audit_signature
    items += [_audit_item(record, signature if i == last else None) for i, record in enumerate(commit.audit)]
    return items


class DynamoStateStore:
    """baton.store.StateStore on one DynamoDB table."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    # ------------------------------------------------------------ start requests (the API)

    def put_start(self, request: StartRequest, idempotency: tuple[str, str] | None = None) -> str:
        start = _item(
            keys.start_pk(request.run_id), keys.REQUEST, request.expires_at, request_json=request.model_dump_json()
        )
        transact: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": start, "ConditionExpression": "attribute_not_exists(pk)"}}
        ]
        idempotency_key = None
        if idempotency is not None:
            key, request_hash = idempotency
            idempotency_key = {
                "pk": keys.idempotency_pk(request.workflow, request.caller, key),
                "sk": keys.IDEMPOTENCY_SK,
            }
            item = _item(
                idempotency_key["pk"],
                idempotency_key["sk"],
                request.expires_at,
                run_id=request.run_id,
                request_hash=request_hash,
            )
            transact.append(
                {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            )
        try:
            self._transact(transact)
        except ConcurrentUpdate:
            if idempotency_key is None:
                raise
            existing = self._get(idempotency_key["pk"], idempotency_key["sk"])
            if existing is None:
                raise
            if existing["request_hash"] != idempotency[1]:  # type: ignore[index]
                raise IdempotencyConflict("this Idempotency-Key was already used for a different request") from None
            return str(existing["run_id"])
        return request.run_id

    def load_start(self, run_id: str) -> StartRequest | None:
        item = self._get(keys.start_pk(run_id), keys.REQUEST)
        return None if item is None else StartRequest.model_validate_json(item["request_json"])

    # ------------------------------------------------------------ the orchestrator

    def find_meta(self, run_id: str) -> RunMeta | None:
        item = self._get(keys.run_pk(run_id), keys.META)
        return None if item is None else RunMeta.model_validate_json(item["meta_json"])

    def load_meta(self, run_id: str) -> RunMeta:
        meta = self.find_meta(run_id)
        if meta is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        return meta

    def load_snapshot(self, run_id: str, journal: bool = True) -> RunSnapshot:
        meta = self.find_meta(run_id)
        if meta is None:
            return RunSnapshot(meta=None, start=self.load_start(run_id))
        snapshot = RunSnapshot(meta=meta, start=None)
        if meta.stage > 0 and meta.last_plan is not None and meta.last_plan.kind == "delegate":
            prefix = keys.stage_prefix(meta.stage)
            snapshot.tasks = {
                int(item["sk"].split("#")[1]): TaskInput.model_validate_json(item["task_json"])
                for item in self._query(keys.task_pk(run_id), prefix)
            }
            if journal:
                snapshot.attempts = [_attempt(item) for item in self._query(keys.journal_pk(run_id), prefix)]
        return snapshot

    def commit(self, commit: Commit) -> None:
        meta = commit.meta
        if commit.expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": to_attribute(commit.expected_version)},
            }
        put_meta = {"Put": {"TableName": self._table, "Item": _meta_item(meta), **condition}}
        # an approval expires only if the API has not decided it meanwhile: in the transaction, conditionally
        still_pending = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _approval_item(approval, meta.expires_at),
                    "ConditionExpression": "#state = :pending",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {":pending": {"S": ApprovalState.PENDING.value}},
                }
            }
            for approval in commit.expired
        ]
        items = commit_items(commit)
        # Items beyond one transaction are immutable records keyed past the committed head, so writing them
        # first is safe: until the run record commits, nothing reads them, and a retry overwrites them.
        room = _TRANSACTION_ITEMS - 1 - len(still_pending)
        overflow, last = (items[:-room], items[-room:]) if len(items) > room else ([], items)
        for start in range(0, len(overflow), 25):
            self._batch_put(overflow[start : start + 25])
        self._transact(
            [put_meta, *still_pending] + [{"Put": {"TableName": self._table, "Item": item}} for item in last]
        )

    # ------------------------------------------------------------ reads

    def load_context(self, run_id: str) -> dict[str, ContextEntry]:
        return {
            item["sk"].removeprefix(keys.CTX_PREFIX): ContextEntry.model_validate_json(item["entry_json"])
            for item in self._query(keys.run_pk(run_id), keys.CTX_PREFIX)
        }

    def load_context_entry(self, run_id: str, key: str) -> ContextEntry | None:
        item = self._get(keys.run_pk(run_id), keys.ctx_sk(key))
        return None if item is None else ContextEntry.model_validate_json(item["entry_json"])

    def load_context_keys(self, run_id: str) -> list[str]:
        return [
            str(item["sk"]).removeprefix(keys.CTX_PREFIX)
            for item in self._query(keys.run_pk(run_id), keys.CTX_PREFIX, projection="sk")
        ]

    def load_latest(self, run_id: str, key: str) -> TaskOutcome | None:
        item = self._get(keys.run_pk(run_id), keys.latest_sk(key))
        return None if item is None else TaskOutcome.model_validate_json(item["outcome_json"])

    def load_history(self, run_id: str) -> list[TaskOutcome]:
        return [
            TaskOutcome.model_validate_json(item["outcome_json"])
            for item in self._query(keys.run_pk(run_id), keys.STEP_PREFIX)
        ]

    def load_audit(self, run_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        records = []
        for item in self._query(keys.run_pk(run_id), keys.AUDIT_PREFIX):
            record: dict[str, Any] = json.loads(item["record_json"])
            if record["seq"] > up_to_seq:
                continue
            if "signature" in item:
                record["signature"] = item["signature"]
            records.append(record)
        return records

    def open_runs(self, workflow: str, deadline_before: int) -> list[str]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.OPEN_RUNS_INDEX,
            "KeyConditionExpression": "#w = :w AND #d < :d",
            "ExpressionAttributeNames": {"#w": keys.OPEN_WORKFLOW, "#d": keys.OPEN_DEADLINE},
            "ExpressionAttributeValues": {":w": {"S": workflow}, ":d": {"N": str(deadline_before)}},
        }
        run_ids: list[str] = []
        while True:
            response = self._ddb.query(**kwargs)
            run_ids += [str(item["pk"]["S"]).removeprefix("RUN#") for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return run_ids
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # ------------------------------------------------------------ approvals

    def load_task(self, run_id: str, stage: int, index: int) -> TaskInput | None:
        item = self._get(keys.task_pk(run_id), keys.task_sk(stage, index))
        return None if item is None else TaskInput.model_validate_json(item["task_json"])

    def load_approval(self, run_id: str, approval_id: str) -> Approval | None:
        item = self._get(keys.approval_pk(run_id), approval_id)
        return None if item is None else Approval.model_validate_json(item["approval_json"])

    def load_approvals(self, run_id: str, approval_ids: list[str]) -> list[Approval]:
        return [a for a in (self.load_approval(run_id, i) for i in approval_ids) if a is not None]

    def decide_approval(self, approval: Approval, expires_at: int) -> None:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=_approval_item(approval, expires_at),
                ConditionExpression="#state = :pending",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":pending": {"S": ApprovalState.PENDING.value}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(f"approval {approval.approval_id} is no longer pending") from None
            raise

    def load_task_token(self, run_id: str) -> TaskToken | None:
        item = self._get(keys.approval_pk(run_id), keys.TOKEN_SK)
        return None if item is None else TaskToken.model_validate_json(item["token_json"])

    def put_task_token(self, token: TaskToken, expires_at: int) -> None:
        item = _item(keys.approval_pk(token.run_id), keys.TOKEN_SK, expires_at, token_json=token.model_dump_json())
        self._ddb.put_item(TableName=self._table, Item=item)

    def load_calls(self, run_id: str, tool: str) -> list[PriorCall]:
        item = self._get(keys.run_pk(run_id), keys.calls_sk(tool))
        return [] if item is None else _PRIOR_CALLS.validate_json(item["calls_json"])

    def load_journal(self, run_id: str) -> list[RecordedAttempt]:
        return [_attempt(item) for item in self._query(keys.journal_pk(run_id), "")]

    # ------------------------------------------------------------ DynamoDB

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else from_item(item)

    def _query(self, pk: str, prefix: str, projection: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
        while True:
            response = self._ddb.query(**kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _transact(self, transact: list[dict[str, Any]]) -> None:
        try:
            self._ddb.transact_write_items(TransactItems=transact)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise ConcurrentUpdate("the run changed while it was being updated") from None
            raise

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        request = {self._table: [{"PutRequest": {"Item": item}} for item in items]}
        while request:
            response = self._ddb.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}


def _attempt(item: dict[str, Any]) -> RecordedAttempt:
    stage, index, attempt, _kind = item["sk"].split("#", 3)
    return RecordedAttempt(
        stage=int(stage),
        index=int(index),
        attempt=int(attempt),
        execution=str(item.get("execution", "")),
        entry_json=item.get("entry_json"),
        error=item.get("error"),
        cause=item.get("cause"),
    )
