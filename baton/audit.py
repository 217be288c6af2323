"""Append-only, hash-chained audit records.

Each record carries the hash of the one before it; changing, removing or reordering any record breaks
every hash after it, which `verify_chain` reports by naming the first broken record.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

GENESIS_HASH = "0" * 64


class AuditKind(StrEnum):
    RUN_STARTED = "run_started"
    DECISION = "decision"
    DELEGATION = "delegation"
    TOOL_CALL = "tool_call"
    DENIAL = "denial"
    TASK_SUCCEEDED = "task_succeeded"
    TASK_FAILED = "task_failed"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_FAILED = "run_failed"


class AuditRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    seq: int
    at: str
    kind: AuditKind
    actor: str
    detail: dict[str, JsonValue]
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(fields: dict[str, Any]) -> str:
    """Hash of every field of a record except `hash` itself."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


class AuditChain:
    """Builds records that continue a chain from a known head (seq, hash)."""

    def __init__(self, run_id: str, last_seq: int, head: str) -> None:
        self.run_id = run_id
        self.last_seq = last_seq
        self.head = head
        self.records: list[AuditRecord] = []

    def append(self, kind: AuditKind, actor: str, at: str, **detail: Any) -> AuditRecord:
        fields: dict[str, Any] = {
            "run_id": self.run_id,
            "seq": self.last_seq + 1,
            "at": at,
            "kind": kind.value,
            "actor": actor,
            "detail": detail,
            "prev_hash": self.head,
        }
        fields["hash"] = record_hash(fields)
        record = AuditRecord.model_validate(fields)
        self.records.append(record)
        self.last_seq = record.seq
        self.head = record.hash
        return record


class ChainBroken(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"audit record {seq}: {reason}")
        self.seq = seq
        self.reason = reason


def verify_chain(records: list[dict[str, Any]], expected_head: str | None = None) -> int:
    """Check a chain oldest first; return its length or raise ChainBroken at the first bad record."""
    previous = GENESIS_HASH
    for position, raw in enumerate(records, start=1):
        seq = raw.get("seq", position)
        if seq != position:
            raise ChainBroken(seq, f"expected sequence number {position} (a record is missing or out of order)")
        if raw.get("prev_hash") != previous:
            raise ChainBroken(seq, "prev_hash does not match the previous record's hash")
        if record_hash(raw) != raw.get("hash"):
            raise ChainBroken(seq, "content does not match its hash (the record was edited)")
        previous = raw["hash"]
    if expected_head is not None and previous != expected_head:
        raise ChainBroken(len(records), "the chain does not end at the run's recorded audit head (truncated)")
    return len(records)
