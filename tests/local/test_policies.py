"""Tool-call policies in the deployed agent functions, offline: the refund app's payment_reversal function (under
refund_app/policies.cedar) invoked as Step Functions invokes it, against the fake payment provider, and a
model-backed agent under policies whose model proposes calls. Each attack must leave the provider's ledger as it
was; each control shows the policy, not something else, decided."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import boto3
import pytest
from pydantic import BaseModel, ConfigDict, Field

from baton.agent_runner import AgentRunner
from baton.aws import AwsClients
from baton.catalog import AgentSpec, ModelSpec, PolicyFile, SideEffect, ToolSpec, WorkflowSpec, build_catalog
from baton.local.engine import LocalEngine
from baton.local.functions import agent_function_name
from baton.local.model_doubles import ScriptedModel, attach, response, tool_use
from baton.models import (
    AgentRequest,
    AgentResult,
    ApprovalGrant,
    JournalEntry,
    ModelAllowance,
    PriorCall,
    TaskInput,
    TaskStatus,
    arguments_sha256,
)
from baton.tools import ToolContext
from refund_app.offline import FakePaymentProvider

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "refund_20260101T000000-000000000001"


@pytest.fixture(scope="module")
def baton_catalog() -> str:
    return "refund_app.catalog:CATALOG"


@pytest.fixture(scope="module")
def engine(baton_engine: LocalEngine) -> LocalEngine:
    return baton_engine


def provider(engine: LocalEngine) -> FakePaymentProvider:
    fake: FakePaymentProvider = engine.fixtures["refund"]
    return fake


def order(order_id: str, payment_id: str, amount_cents: int, currency: str = "USD") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "CUST-900",
        "payment_id": payment_id,
        "amount_cents": amount_cents,
        "currency": currency,
        "category": "kitchen",
        "delivered_on": "2026-01-01",
    }


def refund_arguments(found: dict[str, Any]) -> dict[str, Any]:
    """What payment_reversal calls refund_payment with, validated (the hash an approval is bound to)."""
    return {
        "payment_id": found["payment_id"],
        "amount_cents": found["amount_cents"],
        "currency": found["currency"],
        "idempotency_key": f"refund-{found['order_id']}",
    }


def reverse(engine: LocalEngine, found: dict[str, Any], **task: Any) -> tuple[JournalEntry, bool]:
    """One attempt of payment_reversal, through its deployed function (as the state machine invokes it)."""
    payload = {
        "order_lookup": {"found": True, "order": found},
        "return_policy": {"decision": "eligible", "reason": "within the return window", "days_since_delivery": 3},
    }
    task_input = TaskInput(agent="payment_reversal", key="payment_reversal", payload=payload, untrusted_keys=[], **task)
    request = AgentRequest(run_id=RUN_ID, stage=3, index=0, attempt=1, task_json=task_input.model_dump_json())
    answer = engine.clients.client("lambda").invoke(
        FunctionName=agent_function_name("payment_reversal"), Payload=request.model_dump_json().encode()
    )
    result = AgentResult.model_validate(json.loads(answer["Payload"].read()))
    return JournalEntry.model_validate_json(result.entry_json), result.retry


def grant(found: dict[str, Any], *, grant_id: str = "grant-refund-1", **changes: Any) -> ApprovalGrant:
    return ApprovalGrant(
        grant_id=grant_id,
        agent="payment_reversal",
        tool="refund_payment",
        arguments_sha256=arguments_sha256("refund_payment", {**refund_arguments(found), **changes}),
        expires_at=int(time.time()) + 3600,
    )


# ---------------------------------------------------------------- the refund app's policies


def test_a_small_refund_is_permitted_and_the_record_names_the_permit(engine: LocalEngine) -> None:
    found = order("ORD-7001", "pay_7001", 4500)
    entry, _ = reverse(engine, found)
    assert entry.status is TaskStatus.SUCCEEDED, entry.error
    [call] = entry.tool_calls
    assert (call.outcome, call.policy_effect, call.policy_ids) == ("ok", "allow", ["payment-reversal-refunds"])
    assert len(provider(engine).refunds_for("pay_7001")) == 1


@pytest.mark.attack("ASI02")
def test_a_refund_above_100_is_held_for_a_person_and_nothing_is_paid(engine: LocalEngine) -> None:
    # Given an eligible order of 249.00 EUR (the amount rule: above 100.00 needs approval)
    found = order("ORD-7002", "pay_7002", 24900, "EUR")
    requests = provider(engine).requests
    # When payment_reversal runs without a grant
    entry, retry = reverse(engine, found)
    # Then the attempt waits for approval (not a failure, not retried) with the exact call it wants to make
    assert (entry.status, retry, entry.error_type, entry.output) == (TaskStatus.NEEDS_APPROVAL, False, None, None)
    pending = entry.pending_approval
    assert pending is not None
    assert pending.tool == "refund_payment"
    assert pending.arguments == refund_arguments(found)
    assert pending.arguments_sha256 == arguments_sha256("refund_payment", refund_arguments(found))
    assert pending.policy_ids == ["refund-above-100-needs-approval"]
    assert pending.expires_in_seconds == 86400
    [call] = entry.tool_calls
    assert (call.outcome, call.policy_effect) == ("needs_approval", "approval")
    # and the provider never heard of it
    assert provider(engine).requests == requests
    assert provider(engine).refunds_for("pay_7002") == []


def test_with_a_grant_for_exactly_that_refund_it_is_paid_and_the_grant_recorded(engine: LocalEngine) -> None:
    found = order("ORD-7003", "pay_7003", 24900, "EUR")
    entry, _ = reverse(engine, found, grants=[grant(found, grant_id="grant-refund-7003")])
    assert entry.status is TaskStatus.SUCCEEDED, entry.error
    [call] = entry.tool_calls
    assert (call.outcome, call.policy_effect, call.grant_id) == ("ok", "approval", "grant-refund-7003")
    assert [r["amount_cents"] for r in provider(engine).refunds_for("pay_7003")] == [24900]


def test_a_grant_for_another_amount_does_not_pay_this_one(engine: LocalEngine) -> None:
    # Given a person approved a refund of 150.00, and the task now refunds 249.00
    found = order("ORD-7004", "pay_7004", 24900, "EUR")
    entry, _ = reverse(engine, found, grants=[grant(found, amount_cents=15000)])
    # Then the call is held again; nothing is paid
    assert entry.status is TaskStatus.NEEDS_APPROVAL
    assert entry.tool_calls[0].grant_id is None
    assert provider(engine).refunds_for("pay_7004") == []


@pytest.mark.attack("ASI02")
def test_a_second_refund_of_the_same_order_in_a_run_is_denied(engine: LocalEngine) -> None:
    # Given the run already refunded this order (as the orchestrator hands the run's earlier calls in)
    found = order("ORD-7005", "pay_7005", 4500)
    earlier = PriorCall(agent="payment_reversal", tool="refund_payment", stage=3, arguments=refund_arguments(found))
    entry, retry = reverse(engine, found, prior_calls=[earlier])
    # Then the refund is denied by the per-order rule, the task fails, and the provider saw nothing
    assert (entry.status, entry.error_type, retry) == (TaskStatus.FAILED, "ToolDenied", False)
    [call] = entry.tool_calls
    assert (call.outcome, call.policy_effect, call.policy_ids) == ("denied", "deny", ["one-refund-per-order-per-run"])
    assert provider(engine).refunds_for("pay_7005") == []


def test_the_large_amount_example_reaches_the_amount_rule(engine: LocalEngine) -> None:
    # examples/refund/large-amount.json: an eligible order whose refund the amount rule holds
    run_input = json.loads((ROOT / "examples" / "refund" / "large-amount.json").read_text())
    assert run_input["order_id"] == "ORD-1005"
    seed = json.loads((ROOT / "examples" / "refund" / "refund_app" / "offline" / "seed.json").read_text())
    [seeded] = [o for o in seed["orders"] if o["order_id"] == "ORD-1005"]
    assert 10000 < seeded["amount_cents"] <= 50000  # above the policy's 100.00, below the return policy's review
    assert seeded["delivered_days_ago"] <= 30


# ---------------------------------------------------------------- a model-backed agent under policies


class Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayArgs(Boundary):
    account: str = Field(pattern=r"^ACC-\d{3}$")
    amount_cents: int = Field(gt=0)


class CashierInput(Boundary):
    account: str = Field(pattern=r"^ACC-\d{3}$")


class Paid(Boundary):
    done: bool


PAID: list[dict[str, Any]] = []


def pay(args: PayArgs, ctx: Any) -> dict[str, Any]:
    PAID.append(args.model_dump())
    return {"paid": args.amount_cents}


CASHIER = AgentSpec(
    name="cashier",
    description="pays what its task asks",
    model=ModelSpec(model_id="amazon.nova-lite-v1:0"),
    instructions="Pay the account what the task asks, then submit your result.",
    input_model=CashierInput,
    output_model=Paid,
    tools=("pay",),
    context_keys=("account",),
    policies=PolicyFile(package="tests.local", name="cashier_policies.cedar"),
)
CATALOG = build_catalog(
    resources=[],
    tools=[
        ToolSpec(
            name="pay",
            description="pay an account",
            implementation="tests.local.test_policies:pay",
            arguments=PayArgs,
            side_effect=SideEffect.IRREVERSIBLE,
            output_trusted=True,
        )
    ],
    agents=[CASHIER],
    workflows=[
        WorkflowSpec(
            name="cash",
            description="c",
            input_model=CashierInput,
            planner="refund_app.planner:RefundPlanner",
            agents=("cashier",),
            trusted_input_keys=("account",),
        )
    ],
)


def cashier_attempt(*replies: dict[str, Any], grants: list[ApprovalGrant] | None = None) -> JournalEntry:
    session = boto3.Session(region_name="us-east-1")
    clients = AwsClients(session, on_client=lambda service, client: attach(client, ScriptedModel(*replies), "cashier"))
    runner = AgentRunner(
        CATALOG,
        CASHIER,
        lambda spec, run_id: cast(ToolContext, SimpleNamespace()),  # `pay` reads nothing of its context
        bedrock_runtime=lambda: clients.client("bedrock-runtime"),
    )
    task = TaskInput(
        agent="cashier",
        key="cashier",
        payload={"account": "ACC-100"},
        untrusted_keys=[],
        allowance=ModelAllowance(calls=5, input_tokens=10_000, output_tokens=2_000),
        grants=grants or [],
    )
    request = AgentRequest(
        run_id="cash_20260101T000000-000000000001", stage=1, index=0, attempt=1, task_json=task.model_dump_json()
    )
    return JournalEntry.model_validate_json(runner.run(request).entry_json)


def submit() -> dict[str, Any]:
    return response(tool_use("submit_result", {"done": True}, "result-1"))


def cashier_grant(amount_cents: int) -> ApprovalGrant:
    return ApprovalGrant(
        grant_id="grant-cashier-1",
        agent="cashier",
        tool="pay",
        arguments_sha256=arguments_sha256("pay", {"account": "ACC-100", "amount_cents": amount_cents}),
        expires_at=int(time.time()) + 600,
    )


@pytest.fixture(autouse=True)
def _reset() -> None:
    PAID.clear()


def test_a_model_proposing_a_large_payment_gets_needs_approval_and_pays_nothing() -> None:
    entry = cashier_attempt(response(tool_use("pay", {"account": "ACC-100", "amount_cents": 25000})), submit())
    assert entry.status is TaskStatus.NEEDS_APPROVAL
    assert entry.pending_approval is not None
    assert entry.pending_approval.arguments == {"account": "ACC-100", "amount_cents": 25000}
    assert PAID == []


@pytest.mark.attack("ASI09")
def test_a_model_proposing_other_arguments_after_approval_gets_needs_approval_again() -> None:
    # Given a person approved 250.00, and the model (re-run with the grant) now proposes 260.00
    entry = cashier_attempt(
        response(tool_use("pay", {"account": "ACC-100", "amount_cents": 26000})),
        submit(),
        grants=[cashier_grant(25000)],
    )
    # Then it waits for a person again, for the new call; nothing is paid
    assert entry.status is TaskStatus.NEEDS_APPROVAL
    assert entry.pending_approval is not None
    assert entry.pending_approval.arguments["amount_cents"] == 26000
    assert PAID == []
    # while the approved call itself goes through (the control)
    entry = cashier_attempt(
        response(tool_use("pay", {"account": "ACC-100", "amount_cents": 25000})),
        submit(),
        grants=[cashier_grant(25000)],
    )
    assert entry.status is TaskStatus.SUCCEEDED, entry.error
    assert entry.tool_calls[0].grant_id == "grant-cashier-1"
    assert PAID == [{"account": "ACC-100", "amount_cents": 25000}]


def test_a_model_that_tries_a_second_call_after_a_hold_runs_nothing() -> None:
    # the hold ends the task: the model never sees a result it could work around
    entry = cashier_attempt(
        response(
            tool_use("pay", {"account": "ACC-100", "amount_cents": 25000}, "call-1"),
            tool_use("pay", {"account": "ACC-100", "amount_cents": 9000}, "call-2"),
        ),
        submit(),
    )
    assert entry.status is TaskStatus.NEEDS_APPROVAL
    assert PAID == []
