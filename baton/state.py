"""The state store: one DynamoDB table holding every run's state, tasks, journal and audit chain.

Keys (pk / sk):
  RUN#<run_id>      META                 run record (status, version, stage, audit head, result)
  RUN#<run_id>      CTX#<key>            one shared-context value, with provenance
  RUN#<run_id>      STEP#<stage>#<index> one task outcome
  RUN#<run_id>      AUDIT#<seq>          one audit record (hash-chained)
  TASK#<agent>#<run_id>     <stage>#<index>      a task's scoped input, written by the orchestrator
  JOURNAL#<agent>#<run_id>  <stage>#<index>#...  one attempt, written by the agent
  FAILURE#<run_id>          <stage>#<index>#...  a failed task, written by the state machine's Catch
  IDEMPOTENCY#<workflow>#<key>  KEY              the run an idempotency key started

Each agent may only read its own TASK#<agent># items and write its own JOURNAL#<agent># items (IAM
dynamodb:LeadingKeys, patterns from `agent_key_patterns`), so it can neither read another agent's
inputs nor forge another agent's results; the state machine may only write FAILURE# items; only the
orchestrator writes RUN# items, and every write of META is conditional on the version it read, so two
writers never silently overwrite each other. Values are JSON text validated by pydantic when read back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from baton.audit import AuditRecord, canonical_json
from baton.models import ContextEntry, JournalEntry, PlanResponse, RunStatus, TaskInput, TaskOutcome

META = "META"
# DynamoDB items are limited to 400 KB; leave room for keys and attributes
MAX_VALUE_BYTES = 300_000
# TransactWriteItems takes at most 100 items; one is the META update
_TRANSACTION_ITEMS = 99


class StateError(Exception):
    pass


class RunNotFound(StateError):
    pass


class ConcurrentUpdate(StateError):
    """Another writer changed the run since it was read (or the item already exists)."""


class IdempotencyConflict(StateError):
    """An idempotency key reused for a different request."""


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    workflow: str
    status: RunStatus
    version: int
    stage: int
    audit_seq: int
    audit_head: str
    created_at: str
    updated_at: str
    expires_at: int
    last_plan: PlanResponse | None = None
    # the distinct agents of the current stage: where its task items and journals are
    stage_agents: list[str] = Field(default_factory=list)
    result: dict[str, JsonValue] | None = None
    reason: str | None = None


def _idempotency_pk(workflow: str, key: str) -> str:
    return f"IDEMPOTENCY#{workflow}#{key}"


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def task_pk(agent: str, run_id: str) -> str:
    return f"TASK#{agent}#{run_id}"


def journal_pk(agent: str, run_id: str) -> str:
    return f"JOURNAL#{agent}#{run_id}"


def failure_pk(run_id: str) -> str:
    return f"FAILURE#{run_id}"


def agent_key_patterns(agent: str) -> tuple[str, str]:
    """dynamodb:LeadingKeys patterns of the items an agent reads (its tasks) and writes (its journal)."""
    return f"TASK#{agent}#*", f"JOURNAL#{agent}#*"


FAILURE_KEY_PATTERN = "FAILURE#*"


def task_sk(stage: int, index: int) -> str:
    return f"{stage:04d}#{index:05d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class Item:
    """A DynamoDB item to write: keys plus JSON-ish attributes."""

    def __init__(self, pk: str, sk: str, expires_at: int, **attributes: str | int | bool) -> None:
        self.pk = pk
        self.sk = sk
        av: dict[str, Any] = {"pk": _s(pk), "sk": _s(sk), "expires_at": _n(expires_at)}
        for name, value in attributes.items():
            if isinstance(value, bool):
                av[name] = {"BOOL": value}
            elif isinstance(value, int):
                av[name] = _n(value)
            else:
                av[name] = _s(value)
        self.attributes = av


def context_item(run_id: str, key: str, entry: ContextEntry, expires_at: int) -> Item:
    return Item(run_pk(run_id), f"CTX#{key}", expires_at, entry_json=entry.model_dump_json())


def step_item(run_id: str, outcome: TaskOutcome, expires_at: int) -> Item:
    return Item(
        run_pk(run_id),
        f"STEP#{task_sk(outcome.stage, outcome.index)}",
        expires_at,
        outcome_json=outcome.model_dump_json(),
    )


def audit_item(record: AuditRecord, expires_at: int) -> Item:
    return Item(
        run_pk(record.run_id),
        f"AUDIT#{record.seq:08d}",
        expires_at,
        record_json=canonical_json(record.model_dump(mode="json")),
    )


def task_item(run_id: str, stage: int, index: int, task: TaskInput, expires_at: int) -> Item:
    return Item(task_pk(task.agent, run_id), task_sk(stage, index), expires_at, task_json=task.model_dump_json())


def check_size(label: str, text: str) -> None:
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise StateError(f"{label} is larger than {MAX_VALUE_BYTES} bytes")


class StateStore:
    """DynamoDB adapter; the only module of the runtime that speaks DynamoDB."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    # ------------------------------------------------------------ runs

    def create_run(self, meta: RunMeta, items: list[Item], idempotency: tuple[str, str] | None = None) -> RunMeta:
        """Create a run atomically.

        With `idempotency=(key, request_hash)`, a repeated key returns the run it already started, and a key
        reused for a different request raises IdempotencyConflict.
        """
        transact: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._meta_item(meta),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if idempotency is not None:
            key, request_hash = idempotency
            transact.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": Item(
                            _idempotency_pk(meta.workflow, key),
                            "KEY",
                            meta.expires_at,
                            run_id=meta.run_id,
                            request_hash=request_hash,
                        ).attributes,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._write(transact, items)
        except ConcurrentUpdate:
            if idempotency is None:
                raise
            key, request_hash = idempotency
            existing = self._ddb.get_item(
                TableName=self._table,
                Key={"pk": _s(_idempotency_pk(meta.workflow, key)), "sk": _s("KEY")},
                ConsistentRead=True,
            ).get("Item")
            if existing is None:
                raise
            if existing["request_hash"]["S"] != request_hash:
                raise IdempotencyConflict("this Idempotency-Key was already used for a different request") from None
            return self.load_meta(existing["run_id"]["S"])
        return meta

    def load_meta(self, run_id: str) -> RunMeta:
        response = self._ddb.get_item(
            TableName=self._table, Key={"pk": _s(run_pk(run_id)), "sk": _s(META)}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            raise RunNotFound(f"run {run_id!r} does not exist")
        return RunMeta.model_validate_json(item["meta_json"]["S"])

    def commit(self, meta: RunMeta, expected_version: int, items: list[Item]) -> None:
        """Write items and the new META in one step; fails if anyone committed since `expected_version`."""
        update = {
            "Put": {
                "TableName": self._table,
                "Item": self._meta_item(meta),
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": _n(expected_version)},
            }
        }
        self._write([update], items)

    def _meta_item(self, meta: RunMeta) -> dict[str, Any]:
        return Item(
            run_pk(meta.run_id),
            META,
            meta.expires_at,
            meta_json=meta.model_dump_json(),
            version=meta.version,
            status=meta.status.value,
            workflow=meta.workflow,
        ).attributes

    def _write(self, conditional: list[dict[str, Any]], items: list[Item]) -> None:
        # Items beyond one transaction are immutable records keyed past the committed head, so writing
        # them first is safe: until META commits, nothing reads them, and a retry overwrites them.
        room = _TRANSACTION_ITEMS + 1 - len(conditional)
        overflow, last = items[:-room] if len(items) > room else [], items[-room:] if items else []
        for start in range(0, len(overflow), 25):
            self._batch_put(overflow[start : start + 25])
        transact = conditional + [{"Put": {"TableName": self._table, "Item": i.attributes}} for i in last]
        try:
            self._ddb.transact_write_items(TransactItems=transact)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise ConcurrentUpdate("the run changed while it was being updated") from None
            raise

    def _batch_put(self, items: list[Item]) -> None:
        request = {self._table: [{"PutRequest": {"Item": i.attributes}} for i in items]}
        while request:
            response = self._ddb.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}

    # ------------------------------------------------------------ reads for the orchestrator

    def _query(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(pk), ":prefix": _s(prefix)},
            "ConsistentRead": True,
        }
        while True:
            response = self._ddb.query(**kwargs)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def load_context(self, run_id: str) -> dict[str, ContextEntry]:
        return {
            item["sk"]["S"].removeprefix("CTX#"): ContextEntry.model_validate_json(item["entry_json"]["S"])
            for item in self._query(run_pk(run_id), "CTX#")
        }

    def load_history(self, run_id: str) -> list[TaskOutcome]:
        return [
            TaskOutcome.model_validate_json(item["outcome_json"]["S"]) for item in self._query(run_pk(run_id), "STEP#")
        ]

    def load_audit(self, run_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        """Committed audit records, oldest first (records past the committed head are ignored)."""
        records = [json.loads(item["record_json"]["S"]) for item in self._query(run_pk(run_id), "AUDIT#")]
        return [r for r in records if r["seq"] <= up_to_seq]

    def load_journal(self, run_id: str, stage: int, agents: list[str]) -> list[dict[str, Any]]:
        """Raw journal items of one stage, from each of its agents; the orchestrator validates them."""
        return [item for agent in agents for item in self._query(journal_pk(agent, run_id), f"{stage}#")]

    def load_failures(self, run_id: str, stage: int) -> list[dict[str, Any]]:
        """Items the state machine's Catch wrote for the stage's failed tasks."""
        return list(self._query(failure_pk(run_id), f"{stage}#"))

    def load_stage_tasks(self, run_id: str, stage: int, agents: list[str]) -> dict[int, TaskInput]:
        return {
            int(item["sk"]["S"].split("#")[1]): TaskInput.model_validate_json(item["task_json"]["S"])
            for agent in agents
            for item in self._query(task_pk(agent, run_id), f"{stage:04d}#")
        }

    # ------------------------------------------------------------ the agent's two operations

    def load_task(self, agent: str, run_id: str, stage: int, index: int) -> TaskInput:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": _s(task_pk(agent, run_id)), "sk": _s(task_sk(stage, index))},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            raise RunNotFound(f"no task {stage}/{index} for agent {agent!r} in run {run_id!r}")
        return TaskInput.model_validate_json(item["task_json"]["S"])

    def put_journal(self, run_id: str, sort_key: str, entry: JournalEntry, expires_at: int) -> None:
        """Append one attempt to the journal of the entry's agent."""
        entry_json = entry.model_dump_json()
        check_size("journal entry", entry_json)
        self._ddb.put_item(
            TableName=self._table,
            Item=Item(journal_pk(entry.agent, run_id), sort_key, expires_at, entry_json=entry_json).attributes,
            ConditionExpression="attribute_not_exists(pk)",
        )
