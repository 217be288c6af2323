"""The audit trail cannot be rewritten, truncated, spliced or reordered without `verify_run` saying so.

Each test takes a real run's record (the orchestrator on the in-memory store, heads signed with a local
P-256 key as KMS would) and attacks it the way someone with write access to the file or table would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from baton.audit import (
    GENESIS_HASH,
    AuditChain,
    AuditKind,
    Verification,
    digest,
    public_key_check,
    record_hash,
    verify_run,
)
from baton.models import Delegate, Finish, Task
from baton.runs import read_run
from baton.testing.memory_store import LocalHeadSigner
from tests.unit.harness import FOUND, Harness, Scripted

Record = dict[str, Any]


def finished_run(item_id: str = "IT-1") -> tuple[Record, LocalHeadSigner]:
    """A relay run that read an item, scored it and finished, signed at each of its commits."""
    h = Harness(
        Scripted(
            Delegate(tasks=[Task(agent="reader")]),
            Delegate(tasks=[Task(agent="scorer")]),
            Finish(result={"item_id": item_id, "score": 42}),
        )
    )
    run_id = h.start({"item_id": item_id})
    h.plan(run_id, 0)
    h.report(run_id, 1, 0, FOUND)
    h.plan(run_id, 1)
    h.report(run_id, 2, 0, {"score": 42})
    h.plan(run_id, 2)
    return read_run(h.store, run_id).model_dump(mode="json"), h.signer


def verify(record: Record, signer: LocalHeadSigner, allow_running: bool = False) -> Verification:
    return verify_run(record, public_key_check(signer.public_key_pem()), allow_running)


def rehash_from(audit: list[Record], start: int) -> None:
    """What an attacker does after an edit: recompute every hash and link from `start` on."""
    previous = audit[start - 1]["hash"] if start else GENESIS_HASH
    for record in audit[start:]:
        record["prev_hash"] = previous
        record["hash"] = record_hash(record)
        previous = record["hash"]


def test_an_untouched_run_verifies_against_its_signed_heads() -> None:
    record, signer = finished_run()
    verification = verify(record, signer)
    assert verification.ok, verification.problems
    assert verification.final
    assert verification.signed_heads == 3  # one per commit: the Plans of stages 0, 1 and 2 (the finish)


def _edit_detail(r: Record) -> None:
    r["audit"][3]["detail"]["agent"] = "payer"


def _drop_record(r: Record) -> None:
    r["audit"].pop(2)


def _reorder(r: Record) -> None:
    r["audit"].insert(1, r["audit"].pop(2))


def _truncate(r: Record) -> None:
    # cut back to an earlier signed head (a valid prefix) and say the run is still running
    last_signed = max(i for i, a in enumerate(r["audit"][:-1]) if "signature" in a)
    r["audit"] = r["audit"][: last_signed + 1]


def _rewrite_everything(r: Record) -> None:
    # drop a record, change a bound value, and recompute every hash: only the signatures stand in the way
    r["audit"].pop(4)
    for seq, a in enumerate(r["audit"], start=1):
        a["seq"] = seq
    r["audit"][-1]["detail"]["result_hash"] = digest({"item_id": "IT-1", "score": 99})
    r["result"]["score"] = 99
    rehash_from(r["audit"], 0)


def _append_forged(r: Record) -> None:
    chain = AuditChain(r["run_id"], r["workflow"], r["audit"][-1]["seq"], r["audit"][-1]["hash"])
    chain.append(AuditKind.TOOL_CALL, "payer", "2026-11-25T00:00:00Z", tool="pay_out")
    r["audit"].append(chain.records[0].model_dump(mode="json"))


def _edit_result(r: Record) -> None:
    r["result"]["score"] = 100


def _edit_status(r: Record) -> None:
    r["status"] = "FAILED"
    r["reason"] = "made up"


def _edit_steps(r: Record) -> None:
    r["steps"][0]["attempts"] = 1
    r["steps"][0]["status"] = "failed"


def _drop_a_step(r: Record) -> None:
    r["steps"].pop()


def _edit_an_output(r: Record) -> None:
    r["context"]["scorer"]["value"]["score"] = 99


def _edit_the_input(r: Record) -> None:
    r["context"]["item_id"]["value"] = "IT-2"


def _strip_signatures(r: Record) -> None:
    for a in r["audit"]:
        a.pop("signature", None)


@pytest.mark.attack("ASI10")
@pytest.mark.parametrize(
    ("attack", "finding"),
    [
        (_edit_detail, "content does not match its hash"),
        (_drop_record, "expected sequence number"),
        (_reorder, "expected sequence number"),
        (_truncate, "a head signed while the run was still running"),
        (_rewrite_everything, "signature does not verify"),
        (_append_forged, "tool_call after the run ended"),
        (_edit_result, "result differs"),
        (_edit_status, "status or"),
        (_edit_steps, "steps differ"),
        (_drop_a_step, "steps differ"),
        (_edit_an_output, "context value 'scorer' differs"),
        (_edit_the_input, "input differs"),
        (_strip_signatures, "after the last signed head"),
    ],
)
def test_a_tampered_run_record_is_reported(attack: Callable[[Record], None], finding: str) -> None:
    # Given a finished, signed run / When the record is tampered with as the attack says
    record, signer = finished_run()
    tampered = copy.deepcopy(record)
    attack(tampered)
    # Then verification fails and names what it found
    verification = verify(tampered, signer)
    assert not verification.ok
    assert any(finding in problem for problem in verification.problems), verification.problems


@pytest.mark.attack("ASI10")
def test_a_truncated_record_claiming_to_be_running_is_still_reported() -> None:
    # Given a finished run cut back to an earlier signed head, its status set back to RUNNING
    record, signer = finished_run()
    _truncate(record)
    record["status"] = "RUNNING"
    # Then it fails by default, and even a reader who accepts running runs sees steps the chain no longer binds
    assert not verify(record, signer).ok
    problems = verify(record, signer, allow_running=True).problems
    assert any("steps differ" in p for p in problems), problems


@pytest.mark.attack("ASI10")
def test_another_runs_chain_spliced_in_is_reported() -> None:
    # Given two runs of the same workflow signed by the same key
    mine, signer = finished_run("IT-1")
    theirs, _ = finished_run("IT-2")
    spliced = copy.deepcopy(mine)
    spliced["audit"][3:] = copy.deepcopy(theirs["audit"][3:])
    verification = verify(spliced, signer)
    assert not verification.ok
    assert any("spliced" in p or "prev_hash" in p for p in verification.problems)


def test_a_record_signed_with_another_key_is_reported() -> None:
    # Given a record whose attacker re-signed every head with a key of their own
    record, _ = finished_run()
    forger = LocalHeadSigner()
    from baton.audit import TERMINAL_KINDS, head_message

    ended = False
    for a in record["audit"]:
        ended = ended or a["kind"] in TERMINAL_KINDS
        if "signature" in a:
            final = ended
            a["signature"] = forger.sign(head_message(record["workflow"], record["run_id"], a["seq"], a["hash"], final))
    # Then it verifies with the forger's key but not with the workflow's
    assert verify(record, forger).ok
    _, genuine = finished_run()
    assert not verify(record, genuine).ok


def test_audit_records_hold_hashes_never_the_values_they_bind() -> None:
    # Audit records are archived forever: caller text, outputs and results appear only as hashes
    record, _ = finished_run()
    text = str(record["audit"])
    assert "lamp" not in text  # the item's title, part of an agent's output
    assert "ACC-100" not in text  # an account number
    assert digest(record["result"]) in text
