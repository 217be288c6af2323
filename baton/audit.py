"""Append-only, hash-chained, signed audit records.

Each record carries the hash of the one before it, so changing, removing or reordering any record breaks
every hash after it. That alone proves nothing to someone who can rewrite the whole file or table, so each
head the orchestrator commits is also signed with the workflow's asymmetric KMS key (ECDSA P-256 over the
raw message: the one combination whose signatures match on AWS and offline in moto), which only that
workflow's orchestrator role may use. A verifier checks the chain against the signatures with the public
key, never against the record's own claims.

Records are kept forever (on AWS also in an Object Lock archive), so they hold identifiers, hashes and
Baton's own short texts only: the run's input, each output, the result and every caller-supplied or
remote text are bound by hash; their values live in the run's state, which expires.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, JsonValue

GENESIS_HASH = "0" * 64
SIGNED_MESSAGE_VERSION = 1


class AuditKind(StrEnum):
    RUN_STARTED = "run_started"
    DECISION = "decision"
    DELEGATION = "delegation"
    TOOL_CALL = "tool_call"
    DENIAL = "denial"
    TASK_SUCCEEDED = "task_succeeded"
    TASK_FAILED = "task_failed"
    ANOMALY = "anomaly"
    # human approval (baton.approvals): an action held for a person, the decision and who took it, the deadline
    # passing, and the single-use grant an approved call carried settled (consumed or void)
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    APPROVAL_EXPIRED = "approval_expired"
    GRANT_SETTLED = "grant_settled"
    # an injection detector's verdict on an untrusted value entering the run (baton.detection): never its text
    INJECTION_VERDICT = "injection_verdict"
    # a concurrent stage's outputs merged by its declared reconcile (baton.reconcile), binding the merged value
    RECONCILED = "reconciled"
    # a child run (WorkflowSpec.children) ended: its id, status and final audit head (its own chain verifies apart)
    CHILD_RUN_ENDED = "child_run_ended"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_FAILED = "run_failed"


TERMINAL_KINDS = frozenset({AuditKind.RUN_SUCCEEDED.value, AuditKind.RUN_FAILED.value})


class AuditRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    run_id: str
    workflow: str
    seq: int
    at: str
    kind: AuditKind
    actor: str
    detail: dict[str, JsonValue]
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    """The hash that binds a value (input, output, result, arguments, free text) into the chain."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def record_hash(fields: dict[str, Any]) -> str:
    """Hash of every field of a record except `hash` itself (and a `signature` stored beside it)."""
    body = {k: v for k, v in fields.items() if k not in {"hash", "signature"}}
    return digest(body)


def head_message(workflow: str, run_id: str, seq: int, head: str, final: bool) -> bytes:
    """What is signed at each commit: the chain's head, bound to its workflow and run, and whether it ends the run."""
    return canonical_json(
        {"v": SIGNED_MESSAGE_VERSION, "workflow": workflow, "run_id": run_id, "seq": seq, "head": head, "final": final}
    ).encode()


class HeadSigner(Protocol):
    """Signs chain heads (KMS in a deployment; a local key in some tests)."""

    key_id: str

    def sign(self, message: bytes) -> str:
        """A base64 DER ECDSA signature of `message`."""
        ...


class AuditChain:
    """Builds records that continue a chain from a known head (seq, hash)."""

    def __init__(self, run_id: str, workflow: str, last_seq: int, head: str) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.last_seq = last_seq
        self.head = head
        self.records: list[AuditRecord] = []

    def append(self, kind: AuditKind, actor: str, at: str, **detail: Any) -> AuditRecord:
        fields: dict[str, Any] = {
            "run_id": self.run_id,
            "workflow": self.workflow,
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

    def sign(self, signer: HeadSigner, final: bool) -> str:
        """Sign the current head; `final`: the run had ended (only anomalies are recorded after its end)."""
        return signer.sign(head_message(self.workflow, self.run_id, self.last_seq, self.head, final))


# ---------------------------------------------------------------- verification


@dataclass
class Verification:
    """What `verify_run` found: `problems` empty means the record is what the orchestrator signed."""

    records: int = 0
    signed_heads: int = 0
    final: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class SignatureCheck(Protocol):
    def __call__(self, message: bytes, signature_b64: str) -> bool: ...


def public_key_check(public_key_pem: bytes) -> SignatureCheck:
    """A signature check with a PEM public key (ECDSA P-256 / SHA-256, DER signatures as KMS returns them)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the audit key must be an ECC NIST P-256 public key")

    def check(message: bytes, signature_b64: str) -> bool:
        try:
            key.verify(base64.b64decode(signature_b64, validate=True), message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def verify_chain(records: list[dict[str, Any]], run_id: str, workflow: str) -> list[str]:
    """Structural checks: sequence, links, hashes, and that every record belongs to this run."""
    problems: list[str] = []
    previous = GENESIS_HASH
    for position, raw in enumerate(records, start=1):
        seq = raw.get("seq")
        where = f"audit record {position}"
        if seq != position:
            problems.append(f"{where}: expected sequence number {position}, found {seq} (missing or reordered)")
            break
        if raw.get("run_id") != run_id or raw.get("workflow") != workflow:
            problems.append(f"{where}: belongs to {raw.get('workflow')}/{raw.get('run_id')}, not this run (spliced)")
            break
        if raw.get("prev_hash") != previous:
            problems.append(f"{where}: prev_hash does not match the previous record's hash")
            break
        if record_hash(raw) != raw.get("hash"):
            problems.append(f"{where}: content does not match its hash (the record was edited)")
            break
        previous = str(raw["hash"])
    return problems


def verify_run(record: dict[str, Any], check: SignatureCheck, allow_running: bool = False) -> Verification:
    """Check a run record (what `baton run --out` writes, or what the table holds) against the signed heads.

    Detects: edited, removed, reordered or foreign (spliced) records; a chain that ends past its last
    signed head (appended records) or before the run's final signed head (truncated); and a result,
    reason, input or step list that differs from what the chain binds.
    """
    audit = record.get("audit")
    run_id, workflow = record.get("run_id"), record.get("workflow")
    result = Verification()
    if not isinstance(audit, list) or not audit or not all(isinstance(r, dict) for r in audit):
        result.problems.append("no audit records")
        return result
    if not isinstance(run_id, str) or not isinstance(workflow, str):
        result.problems.append("the record names no run_id and workflow")
        return result
    result.records = len(audit)
    result.problems += verify_chain(audit, run_id, workflow)
    if result.problems:
        return result
    ended = False
    for raw in audit:
        if ended and raw["kind"] != AuditKind.ANOMALY.value:
            result.problems.append(f"audit record {raw['seq']}: {raw['kind']} after the run ended")
            return result
        ended = ended or raw["kind"] in TERMINAL_KINDS
        signature = raw.get("signature")
        if signature is None:
            continue
        final = ended
        if not isinstance(signature, str) or not check(
            head_message(workflow, run_id, raw["seq"], raw["hash"], final), signature
        ):
            result.problems.append(f"audit record {raw['seq']}: its head signature does not verify with this key")
            return result
        result.signed_heads += 1
    last = audit[-1]
    if last.get("signature") is None:
        result.problems.append(
            f"audit records after the last signed head (seq {last['seq']} is unsigned): appended or forged"
        )
        return result
    result.final = ended
    status = record.get("status")
    if not result.final and (status != "RUNNING" or not allow_running):
        result.problems.append(
            f"the chain ends at seq {last['seq']}, a head signed while the run was still running: "
            "truncated, or the run has not finished"
        )
    result.problems += _bound_values(record, audit)
    return result


def _bound_values(record: dict[str, Any], audit: list[dict[str, Any]]) -> list[str]:
    """Compare the record's input, steps, context, result and reason with the hashes the chain binds."""
    problems: list[str] = []
    started = audit[0]
    if started["kind"] != AuditKind.RUN_STARTED.value:
        return ["the chain does not begin with run_started"]
    context = record.get("context") or {}
    inputs = {k: e.get("value") for k, e in context.items() if isinstance(e, dict) and e.get("source") == "input"}
    if digest(inputs) != started["detail"].get("input_hash"):
        problems.append("the run's input differs from the input bound by run_started")
    tasks = [r for r in audit if r["kind"] in {AuditKind.TASK_SUCCEEDED.value, AuditKind.TASK_FAILED.value}]
    chained = sorted(
        (
            r["detail"]["stage"],
            r["detail"]["index"],
            r["actor"],
            r["kind"].removeprefix("task_"),
            r["detail"]["attempts"],
        )
        for r in tasks
    )
    steps = record.get("steps") or []
    listed = sorted((s.get("stage"), s.get("index"), s.get("agent"), s.get("status"), s.get("attempts")) for s in steps)
    if chained != listed:
        problems.append("the run's steps differ from the task outcomes in the chain")
    latest_output: dict[str, str] = {}
    for r in audit:
        if r["kind"] == AuditKind.TASK_SUCCEEDED.value:
            latest_output[r["detail"]["key"]] = r["detail"]["output_hash"]
        elif r["kind"] == AuditKind.RECONCILED.value:  # a merged value (baton.reconcile) is bound by its record
            latest_output[r["detail"]["key"]] = r["detail"]["value_hash"]
    for key, entry in context.items():
        produced = isinstance(entry, dict) and entry.get("source") != "input"
        if produced and latest_output.get(key) != digest(entry.get("value")):
            problems.append(f"context value {key!r} differs from the output bound in the chain")
    last = next((r for r in reversed(audit) if r["kind"] in TERMINAL_KINDS), audit[-1])
    if last["kind"] == AuditKind.RUN_SUCCEEDED.value:
        if record.get("status") != "SUCCEEDED" or digest(record.get("result")) != last["detail"].get("result_hash"):
            problems.append("the run's status or result differs from what run_succeeded binds")
    elif last["kind"] == AuditKind.RUN_FAILED.value and (
        record.get("status") != "FAILED" or digest(record.get("reason")) != last["detail"].get("reason_hash")
    ):
        problems.append("the run's status or reason differs from what run_failed binds")
    return problems
