"""A workflow declared Express runs on an Express state machine, with the same outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.audit import verify_chain
from baton.local.engine import LocalEngine
from baton.models import RunStatus


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.express_catalog:CATALOG") as local:
        yield local


def test_the_refund_runs_the_same_as_an_express_workflow(engine: LocalEngine) -> None:
    sfn = engine.clients.client("stepfunctions")
    assert sfn.describe_state_machine(stateMachineArn=engine.state_machines["refund"])["type"] == "EXPRESS"
    record = engine.run("refund", {"order_id": "ORD-1001"}, timeout_seconds=30)
    assert record.status is RunStatus.SUCCEEDED
    assert [s.agent for s in record.steps] == ["order_lookup", "return_policy", "payment_reversal", "customer_notifier"]
    assert verify_chain(record.audit, expected_head=record.audit_head) == len(record.audit)
