"""The seed's refund example, end to end offline: real ASL on moto's interpreter, real handlers in-process.

`baton_engine` is Baton's pytest fixture: the offline deployment of the app this test belongs to (the
nearest pyproject.toml's [tool.baton] catalog).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from baton.catalog import ResourceKind
from baton.local.engine import LocalEngine
from baton.models import RunStatus, TaskStatus
from baton.runs import RunRecord
from baton.verification import verify_record
from refund_app.offline import FakePaymentProvider

EXAMPLES = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine(baton_engine: LocalEngine) -> LocalEngine:
    return baton_engine


def run_example(engine: LocalEngine, name: str) -> RunRecord:
    record = engine.run("refund", json.loads((EXAMPLES / f"{name}.json").read_text()), timeout_seconds=60)
    verification = verify_record(record.model_dump(mode="json"), engine.public_key("refund"))
    assert verification.ok, verification.problems
    return record


def agents_in_order(record: RunRecord) -> list[str]:
    return [s.agent for s in sorted(record.steps, key=lambda s: (s.stage, s.index))]


def provider(engine: LocalEngine) -> FakePaymentProvider:
    fake: FakePaymentProvider = engine.fixtures["refund"]
    return fake


def test_an_eligible_refund_reverses_the_payment_once_and_notifies(engine: LocalEngine) -> None:
    # Given an order delivered 5 days ago (ORD-1001, 49.99 USD) / When its refund runs
    record = run_example(engine, "default")
    # Then the agents ran in order, the provider holds exactly one refund, and the result says so
    assert record.status is RunStatus.SUCCEEDED
    assert agents_in_order(record) == ["order_lookup", "return_policy", "payment_reversal", "customer_notifier"]
    assert all(s.status is TaskStatus.SUCCEEDED and s.attempts == 1 for s in record.steps)
    [refund] = provider(engine).refunds_for("pay_1001")
    assert record.result is not None
    assert record.result["outcome"] == "refunded"
    assert record.result["refund_id"] == refund["refund_id"]
    assert refund["amount_cents"] == 4999


def test_an_expired_return_window_notifies_with_the_reason_and_pays_nothing(engine: LocalEngine) -> None:
    record = run_example(engine, "window-expired")
    assert record.status is RunStatus.SUCCEEDED
    assert agents_in_order(record) == ["order_lookup", "return_policy", "customer_notifier"]
    assert record.result is not None
    assert record.result["outcome"] == "denied"
    assert "90 days ago" in str(record.result["reason"])
    assert "30 days" in str(record.result["reason"])
    assert provider(engine).refunds_for("pay_1002") == []


def test_a_failing_provider_is_retried_then_escalated_with_no_double_refund(engine: LocalEngine) -> None:
    # Given a payment provider answering 503 for ORD-1003's payment
    before = provider(engine).requests
    record = run_example(engine, "provider-failing")
    # Then payment_reversal was attempted three times (two retries), then escalation and notification ran
    # concurrently in one stage, and the provider's ledger holds nothing for that payment
    assert record.status is RunStatus.SUCCEEDED
    payment = next(s for s in record.steps if s.agent == "payment_reversal")
    assert payment.status is TaskStatus.FAILED
    assert payment.attempts == 3
    assert payment.error_type == "RetryableToolError"
    last_stage = [s for s in record.steps if s.stage == payment.stage + 1]
    assert sorted(s.agent for s in last_stage) == ["case_escalator", "customer_notifier"]
    assert record.result is not None
    assert record.result["outcome"] == "escalated"
    assert record.result["case_opened"] is True
    assert provider(engine).requests - before == 3
    assert len(provider(engine).refunds_for("pay_1003")) <= 1
    # the escalation is a real message in the escalation queue, for a human
    sqs = engine.clients.client("sqs")
    messages = sqs.receive_message(QueueUrl=engine.physical_ids["refund_escalations"], MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert any(b["order_id"] == "ORD-1003" and "3 attempts" in b["reason"] for b in bodies)


def test_an_unknown_order_is_rejected_without_touching_payments(engine: LocalEngine) -> None:
    record = engine.run("refund", {"order_id": "ORD-999999"}, timeout_seconds=30)
    assert record.status is RunStatus.SUCCEEDED
    assert record.result == {"outcome": "rejected", "order_id": "ORD-999999", "reason": "order not found"}
    assert agents_in_order(record) == ["order_lookup"]


@pytest.mark.attack("ASI06")
def test_free_text_from_the_customer_stays_untrusted_and_out_of_agents_that_do_not_declare_it(
    engine: LocalEngine,
) -> None:
    record = run_example(engine, "default")
    assert record.context["reason"].trusted is False
    assert record.context["order_id"].trusted is True
    tasks = [json.loads(i["task_json"]["S"]) for i in engine_task_items(engine, record.run_id)]
    assert tasks, "no task was read back: the check would be vacuous"
    assert all("reason" not in t["payload"] for t in tasks)
    # the payment provider's answer is untrusted data, recorded with its provenance
    assert record.context["payment_reversal"].trusted is False
    assert record.context["payment_reversal"].source == "payment_reversal"


def test_offline_resources_follow_the_catalog(engine: LocalEngine) -> None:
    kinds = {r.name: r.kind for r in engine.catalog.resources.values()}
    assert set(engine.physical_ids) == set(kinds)
    assert kinds["payment_api_key"] is ResourceKind.SECRET
    # the agent's function environment names its resources, never a secret's value
    config = engine.clients.client("lambda").get_function(FunctionName="baton-agent-payment-reversal")
    env = config["Configuration"]["Environment"]["Variables"]
    assert engine.secret_value("payment_api_key") not in json.dumps(env)
    assert json.loads(env["BATON_RESOURCES"]) == {"payment_api_key": engine.physical_ids["payment_api_key"]}


@pytest.mark.parametrize(
    ("run_input", "field"),
    [
        ({"order_id": "1001"}, "order_id"),
        ({"order_id": "ORD-1001", "refund_to": "attacker"}, "refund_to"),
        ({}, "order_id"),
    ],
)
def test_invalid_input_is_refused_before_any_run_starts(
    engine: LocalEngine, run_input: dict[str, str], field: str
) -> None:
    from baton.runs import InvalidRunInput

    with pytest.raises(InvalidRunInput, match=field):
        engine.start("refund", run_input)


def engine_task_items(engine: LocalEngine, run_id: str) -> list[dict[str, Any]]:
    """The task items the orchestrator wrote for a run (what each agent was handed)."""
    response = engine.clients.client("dynamodb").query(
        TableName="baton-state",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TASK#{run_id}"}},
    )
    items: list[dict[str, Any]] = response["Items"]
    return items
