"""The fault injector on its own: deterministic for a seed, per agent, each kind doing what it says."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from baton.local.engine import LocalEngine
from baton.local.faults import (
    AgentFaults,
    FaultInjector,
    FaultKind,
    FaultPlan,
    InjectedFault,
    InjectedThrottle,
    InjectedTimeout,
)
from baton.models import RunStatus, TaskStatus
from baton.verification import verify_record
from benchmarks.soak import seed_orders, soak_cases
from refund_app.offline import FakePaymentProvider


def only(kind: FaultKind, rate: float = 1.0) -> AgentFaults:
    return AgentFaults(rate=rate, weights={kind: 1.0})


def calls_of(injector: FaultInjector, function: str, deliveries: int) -> list[str]:
    seen: list[str] = []

    def handler(event: dict[str, Any]) -> str:
        seen.append("ran")
        return "ok"

    wrapped = injector(function, handler)
    outcomes = []
    for number in range(deliveries):
        try:
            outcomes.append(wrapped({"run_id": f"run-{number}", "stage": 1, "index": 0}))
        except InjectedFault as fault:
            outcomes.append(fault.lambda_error_type)
    return outcomes


def test_the_same_seed_faults_the_same_deliveries_and_another_seed_others() -> None:
    # Given two injectors with one plan and a third with another seed
    plan = FaultPlan(seed=7, default=AgentFaults(rate=0.5, weights={FaultKind.EXCEPTION: 1.0}))
    first, second = FaultInjector(plan), FaultInjector(plan)
    other = FaultInjector(plan.model_copy(update={"seed": 8}))
    # When each delivers the same 200 requests
    outcomes = [calls_of(i, "baton-agent-order-lookup", 200) for i in (first, second, other)]
    # Then the same seed faults exactly the same ones, about half of them, and another seed differs
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] != outcomes[2]
    assert 60 < Counter(outcomes[0])["InjectedFault"] < 140


def test_faults_are_per_agent_and_never_touch_the_orchestrator() -> None:
    plan = FaultPlan(agents={"payment_reversal": only(FaultKind.THROTTLE)})
    injector = FaultInjector(plan)
    assert set(calls_of(injector, "baton-agent-payment-reversal", 5)) == {"Lambda.TooManyRequestsException"}
    assert set(calls_of(injector, "baton-agent-order-lookup", 5)) == {"ok"}
    assert set(calls_of(injector, "baton-orchestrator-refund", 5)) == {"ok"}
    assert injector.counts == Counter({FaultKind.THROTTLE: 5})


def test_each_kind_maps_to_the_error_step_functions_sees() -> None:
    assert InjectedFault.lambda_error_type == "InjectedFault"
    assert InjectedTimeout.lambda_error_type == "Sandbox.Timedout"
    assert InjectedThrottle.lambda_error_type == "Lambda.TooManyRequestsException"
    # a timeout happens after the handler did its work; a duplicate runs it twice; a throttle never runs it
    ran: list[int] = []
    for kind, runs in ((FaultKind.TIMEOUT, 1), (FaultKind.DUPLICATE, 2), (FaultKind.THROTTLE, 0)):
        ran.clear()
        wrapped = FaultInjector(FaultPlan(default=only(kind)))("baton-agent-x", lambda _e: ran.append(1))
        with contextlib.suppress(InjectedFault):
            wrapped({"run_id": "r", "stage": 1, "index": 0})
        assert len(ran) == runs, kind


def test_a_plan_refuses_nonsense() -> None:
    with pytest.raises(ValidationError):
        AgentFaults(rate=1.5)
    with pytest.raises(ValidationError):
        AgentFaults(rate=0.5, weights={FaultKind.TIMEOUT: 0.0})
    with pytest.raises(ValidationError):
        FaultPlan.model_validate({"seed": 1, "agents": {"x": {"rate": 0.1, "kinds": ["timeout"]}}})


# ---------------------------------------------------------------- each kind against the real workflow

FAULTED: dict[str, FaultInjector] = {}


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """Every delivery to payment_reversal faulted by whichever injector the test puts in FAULTED."""

    def wrap(name: str, handler: Any) -> Any:
        def invoke(event: dict[str, Any]) -> Any:
            injector = FAULTED.get("current")
            return handler(event) if injector is None else injector(name, handler)(event)

        return invoke

    with LocalEngine("refund_app.catalog:CATALOG", wrap_handler=wrap) as local:
        yield local
    FAULTED.clear()


def refund_with(engine: LocalEngine, kind: FaultKind, number: int) -> Any:
    """One eligible refund of a fresh order ORD-7000<number> (payment pay_faults_<number>)."""
    [case] = [c for c in soak_cases(number + 1) if c.number == number]
    seed_orders(
        engine, [case.model_copy(update={"order_id": f"ORD-7000{number}", "payment_id": f"pay_faults_{number}"})]
    )
    FAULTED["current"] = FaultInjector(FaultPlan(agents={"payment_reversal": only(kind)}))
    try:
        record = engine.run("refund", {"order_id": f"ORD-7000{number}"}, timeout_seconds=60)
    finally:
        FAULTED.pop("current")
    verification = verify_record(record.model_dump(mode="json"), engine.public_key("refund"))
    assert verification.ok, verification.problems
    return record


def ledger_for(engine: LocalEngine, payment_id: str) -> list[dict[str, Any]]:
    provider: FakePaymentProvider = engine.fixtures["refund"]
    return provider.refunds_for(payment_id)


def test_malformed_output_is_caught_by_the_orchestrators_revalidation(engine: LocalEngine) -> None:
    # Given payment_reversal's reported output replaced, after the refund, by one its model refuses
    record = refund_with(engine, FaultKind.MALFORMED_OUTPUT, 0)
    # Then the orchestrator refuses it (no such value enters the run's context) and the run escalates
    payment = next(s for s in record.steps if s.agent == "payment_reversal")
    assert payment.status is TaskStatus.FAILED
    assert payment.error_type == "AgentOutputInvalid"
    assert "injected_fault" in (payment.error or "")
    assert "payment_reversal" not in record.context
    assert record.result is not None
    assert record.result["outcome"] == "escalated"
    assert len(ledger_for(engine, "pay_faults_0")) == 1


def test_timeouts_after_the_refund_are_retried_without_a_second_refund(engine: LocalEngine) -> None:
    # Given every payment_reversal invocation timing out after it called the provider
    provider: FakePaymentProvider = engine.fixtures["refund"]
    before = provider.requests
    record = refund_with(engine, FaultKind.TIMEOUT, 1)
    # Then Step Functions retried the invocation twice, the provider saw the three requests with one idempotency
    # key and its ledger holds a single refund; the task failed (no answer ever came back) and a human has it
    payment = next(s for s in record.steps if s.agent == "payment_reversal")
    assert (payment.status, payment.error_type) == (TaskStatus.FAILED, "Sandbox.Timedout")
    assert provider.requests - before == 3
    assert len(ledger_for(engine, "pay_faults_1")) == 1
    assert record.status is RunStatus.SUCCEEDED
    assert record.result is not None
    assert record.result["outcome"] == "escalated"


def test_double_delivery_records_one_attempt_and_refunds_once(engine: LocalEngine) -> None:
    # Given every payment_reversal request delivered twice / Then the state machine records the one answer it
    # got for the attempt, and the provider refunded once (the idempotency key is the order's)
    record = refund_with(engine, FaultKind.DUPLICATE, 2)
    payment = next(s for s in record.steps if s.agent == "payment_reversal")
    assert payment.status is TaskStatus.SUCCEEDED
    assert payment.attempts == 1
    assert record.result is not None
    assert record.result["outcome"] == "refunded"
    assert [r["refund_id"] for r in ledger_for(engine, "pay_faults_2")] == [record.result["refund_id"]]


def test_a_crash_is_not_retried_and_the_run_still_ends(engine: LocalEngine) -> None:
    record = refund_with(engine, FaultKind.EXCEPTION, 3)
    payment = next(s for s in record.steps if s.agent == "payment_reversal")
    assert payment.status is TaskStatus.FAILED
    assert payment.error_type == "InjectedFault"
    assert record.status is RunStatus.SUCCEEDED
    assert record.result is not None
    assert record.result["outcome"] == "escalated"
    assert ledger_for(engine, "pay_faults_3") == []
