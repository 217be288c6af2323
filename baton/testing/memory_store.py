"""An in-memory StateStore and a local head signer: test the orchestrator without moto or KMS.

`InMemoryStateStore` keeps the same promises as the DynamoDB store (conditional creation, optimistic
versions, all-or-nothing commits) and also plays the state machine's part: `record_attempt` writes a
journal item as the RecordAttempt / RecordCrash states do.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from baton.approvals import Approval, ApprovalState, TaskToken
from baton.audit import canonical_json
from baton.models import ContextEntry, PriorCall, RunStatus, TaskInput, TaskOutcome
from baton.store import (
    Commit,
    ConcurrentUpdate,
    IdempotencyConflict,
    RecordedAttempt,
    RunMeta,
    RunSnapshot,
    StartRequest,
)


class LocalHeadSigner:
    """Signs heads with a fresh in-process P-256 key (what KMS does in a deployment)."""

    def __init__(self, key_id: str = "local-test-key") -> None:
        self.key_id = key_id
        self._key = ec.generate_private_key(ec.SECP256R1())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class InMemoryStateStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.starts: dict[str, StartRequest] = {}
        self.idempotency: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.metas: dict[str, RunMeta] = {}
        self.context: dict[str, dict[str, ContextEntry]] = {}
        self.steps: dict[str, dict[tuple[int, int], TaskOutcome]] = {}
        self.latest: dict[str, dict[str, TaskOutcome]] = {}
        self.tasks: dict[str, dict[tuple[int, int], str]] = {}
        self.journal: dict[str, dict[tuple[int, int, int, str], RecordedAttempt]] = {}
        self.audit: dict[str, dict[int, str]] = {}
        self.signatures: dict[str, dict[int, str]] = {}
        self.approvals: dict[str, dict[str, Approval]] = {}
        self.tokens: dict[str, TaskToken] = {}
        self.calls: dict[str, dict[str, list[PriorCall]]] = {}
        self.commits = 0
        # what the orchestrator read beyond a stage's snapshot, in order (to show what a stage reads)
        self.reads: list[str] = []

    # ------------------------------------------------------------ the API

    def put_start(self, request: StartRequest, idempotency: tuple[str, str] | None = None) -> str:
        with self._lock:
            if idempotency is not None:
                scope = (request.workflow, request.caller, idempotency[0])
                existing = self.idempotency.get(scope)
                if existing is not None:
                    if existing[1] != idempotency[1]:
                        raise IdempotencyConflict("this Idempotency-Key was already used for a different request")
                    return existing[0]
                self.idempotency[scope] = (request.run_id, idempotency[1])
            if request.run_id in self.starts:
                raise ConcurrentUpdate("the start request exists")
            self.starts[request.run_id] = request.model_copy(deep=True)
            return request.run_id

    def load_start(self, run_id: str) -> StartRequest | None:
        with self._lock:
            start = self.starts.get(run_id)
            return None if start is None else start.model_copy(deep=True)

    # ------------------------------------------------------------ the state machine's part

    def record_attempt(
        self,
        run_id: str,
        stage: int,
        index: int,
        attempt: int,
        execution: str,
        entry_json: str | None = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> None:
        kind = "entry" if entry_json is not None else "crash"
        with self._lock:
            journal = self.journal.setdefault(run_id, {})
            key = (stage, index, attempt, kind)
            if key in journal:
                raise ConcurrentUpdate("the journal item exists")  # attribute_not_exists(pk)
            journal[key] = RecordedAttempt(stage, index, attempt, execution, entry_json, error, cause)

    def task_json(self, run_id: str, stage: int, index: int) -> str:
        """What the state machine's LoadTask reads."""
        with self._lock:
            return self.tasks[run_id][(stage, index)]

    # ------------------------------------------------------------ the orchestrator

    def find_meta(self, run_id: str) -> RunMeta | None:
        with self._lock:
            meta = self.metas.get(run_id)
            return None if meta is None else meta.model_copy(deep=True)

    def load_snapshot(self, run_id: str, journal: bool = True) -> RunSnapshot:
        with self._lock:
            meta = self.metas.get(run_id)
            if meta is None:
                start = self.starts.get(run_id)
                return RunSnapshot(meta=None, start=None if start is None else start.model_copy(deep=True))
            snapshot = RunSnapshot(meta=meta.model_copy(deep=True), start=None)
            if meta.stage > 0 and meta.last_plan is not None and meta.last_plan.kind == "delegate":
                snapshot.tasks = {
                    index: TaskInput.model_validate_json(text)
                    for (stage, index), text in self.tasks.get(run_id, {}).items()
                    if stage == meta.stage
                }
                if journal:
                    snapshot.attempts = [a for k, a in self.journal.get(run_id, {}).items() if k[0] == meta.stage]
            return snapshot

    def commit(self, commit: Commit) -> None:
        meta = commit.meta
        with self._lock:
            current = self.metas.get(meta.run_id)
            if commit.expected_version is None and current is not None:
                raise ConcurrentUpdate("the run exists")
            if commit.expected_version is not None and (current is None or current.version != commit.expected_version):
                raise ConcurrentUpdate("the run changed while it was being updated")
            approvals = self.approvals.setdefault(meta.run_id, {})
            for approval in commit.expired:
                held = approvals.get(approval.approval_id)
                if held is None or held.state is not ApprovalState.PENDING:
                    raise ConcurrentUpdate(f"approval {approval.approval_id} is no longer pending")
            approvals.update({a.approval_id: a.model_copy(deep=True) for a in [*commit.approvals, *commit.expired]})
            self.calls.setdefault(meta.run_id, {}).update({t: list(c) for t, c in commit.ledgers.items()})
            self.metas[meta.run_id] = meta.model_copy(deep=True)
            self.context.setdefault(meta.run_id, {}).update(commit.context)
            self.steps.setdefault(meta.run_id, {}).update({(s.stage, s.index): s for s in commit.steps})
            self.latest.setdefault(meta.run_id, {}).update({s.key: s for s in commit.steps})
            self.tasks.setdefault(meta.run_id, {}).update(
                {(meta.stage, index): task.model_dump_json() for index, task in commit.tasks.items()}
            )
            audit = self.audit.setdefault(meta.run_id, {})
            for record in commit.audit:
                audit[record.seq] = canonical_json(record.model_dump(mode="json"))
            if commit.audit:
                self.signatures.setdefault(meta.run_id, {})[commit.audit[-1].seq] = meta.audit_signature
            self.commits += 1

    def open_runs(self, workflow: str, deadline_before: int) -> list[str]:
        with self._lock:
            return sorted(
                m.run_id
                for m in self.metas.values()
                if m.workflow == workflow
                and m.status is RunStatus.RUNNING
                and m.deadline is not None
                and m.deadline < deadline_before
            )

    # ------------------------------------------------------------ approvals

    def load_task(self, run_id: str, stage: int, index: int) -> TaskInput | None:
        with self._lock:
            self.reads.append(f"TASK#{stage}#{index}")
            text = self.tasks.get(run_id, {}).get((stage, index))
            return None if text is None else TaskInput.model_validate_json(text)

    def load_approval(self, run_id: str, approval_id: str) -> Approval | None:
        with self._lock:
            approval = self.approvals.get(run_id, {}).get(approval_id)
            return None if approval is None else approval.model_copy(deep=True)

    def load_approvals(self, run_id: str, approval_ids: list[str]) -> list[Approval]:
        return [a for a in (self.load_approval(run_id, i) for i in approval_ids) if a is not None]

    def decide_approval(self, approval: Approval, expires_at: int) -> None:
        del expires_at
        with self._lock:
            current = self.approvals.get(approval.run_id, {}).get(approval.approval_id)
            if current is None or current.state is not ApprovalState.PENDING:
                raise ConcurrentUpdate(f"approval {approval.approval_id} is no longer pending")
            self.approvals[approval.run_id][approval.approval_id] = approval.model_copy(deep=True)

    def load_task_token(self, run_id: str) -> TaskToken | None:
        with self._lock:
            token = self.tokens.get(run_id)
            return None if token is None else token.model_copy()

    def put_task_token(self, token: TaskToken, expires_at: int) -> None:
        del expires_at
        with self._lock:
            self.tokens[token.run_id] = token.model_copy()

    def load_calls(self, run_id: str, tool: str) -> list[PriorCall]:
        with self._lock:
            self.reads.append(f"CALLS#{tool}")
            return list(self.calls.get(run_id, {}).get(tool, []))

    def load_journal(self, run_id: str) -> list[RecordedAttempt]:
        with self._lock:
            self.reads.append("JOURNAL#*")
            return [self.journal[run_id][k] for k in sorted(self.journal.get(run_id, {}))]

    def load_context_entry(self, run_id: str, key: str) -> ContextEntry | None:
        with self._lock:
            self.reads.append(f"CTX#{key}")
            return self.context.get(run_id, {}).get(key)

    def load_context_keys(self, run_id: str) -> list[str]:
        with self._lock:
            self.reads.append("CTX#*")
            return sorted(self.context.get(run_id, {}))

    def load_latest(self, run_id: str, key: str) -> TaskOutcome | None:
        with self._lock:
            self.reads.append(f"LATEST#{key}")
            return self.latest.get(run_id, {}).get(key)

    def load_context(self, run_id: str) -> dict[str, ContextEntry]:
        with self._lock:
            return dict(self.context.get(run_id, {}))

    def load_history(self, run_id: str) -> list[TaskOutcome]:
        with self._lock:
            self.reads.append("STEP#*")
            steps = self.steps.get(run_id, {})
            return [steps[k] for k in sorted(steps)]

    def load_audit(self, run_id: str, up_to_seq: int) -> list[dict[str, Any]]:
        with self._lock:
            records = []
            for seq, text in sorted(self.audit.get(run_id, {}).items()):
                if seq > up_to_seq:
                    continue
                record: dict[str, Any] = json.loads(text)
                signature = self.signatures.get(run_id, {}).get(seq)
                if signature is not None:
                    record["signature"] = signature
                records.append(record)
            return records
