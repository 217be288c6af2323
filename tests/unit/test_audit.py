"""The audit chain detects any edit, deletion, reordering or truncation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from baton.audit import GENESIS_HASH, AuditChain, AuditKind, ChainBroken, verify_chain


def chain_of(length: int) -> tuple[list[dict[str, Any]], str]:
    chain = AuditChain("run-1", 0, GENESIS_HASH)
    for n in range(length):
        chain.append(AuditKind.TOOL_CALL, "agent", f"2026-01-01T00:00:0{n}Z", tool="t", n=n)
    return [r.model_dump(mode="json") for r in chain.records], chain.head


def test_an_untouched_chain_verifies() -> None:
    records, head = chain_of(5)
    assert verify_chain(records, expected_head=head) == 5


def test_continuing_a_chain_from_its_head_links_records() -> None:
    records, head = chain_of(2)
    more = AuditChain("run-1", 2, head)
    more.append(AuditKind.DECISION, "orchestrator", "2026-01-01T00:00:09Z")
    assert verify_chain([*records, more.records[0].model_dump(mode="json")]) == 3


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        (lambda r: r[2]["detail"].update(n=99), 3, "edited"),
        (lambda r: r.pop(1), 3, "missing or out of order"),
        (lambda r: r.insert(0, r.pop(3)), 4, "missing or out of order"),
    ],
)
def test_tampering_is_reported_at_the_first_broken_record(tamper: Any, seq: int, reason: str) -> None:
    # Given an intact chain / When one record is edited, removed or moved / Then verification names it
    records, _ = chain_of(5)
    tampered = copy.deepcopy(records)
    tamper(tampered)
    with pytest.raises(ChainBroken, match=reason) as broken:
        verify_chain(tampered)
    assert broken.value.seq == seq


def test_a_rehashed_edit_still_breaks_the_link_to_the_next_record() -> None:
    # Given an attacker who edits a record and recomputes its own hash
    from baton.audit import record_hash

    records, _ = chain_of(4)
    records[1]["detail"]["n"] = 42
    records[1]["hash"] = record_hash(records[1])
    # Then the next record's prev_hash no longer matches
    with pytest.raises(ChainBroken, match="prev_hash") as broken:
        verify_chain(records)
    assert broken.value.seq == 3


def test_truncation_is_detected_against_the_recorded_head() -> None:
    records, head = chain_of(4)
    with pytest.raises(ChainBroken, match="truncated"):
        verify_chain(records[:3], expected_head=head)
