"""The refund planner routes on intermediate results (pure: run state in, decision out)."""

from __future__ import annotations

from typing import Any

import pytest

from baton.models import ContextEntry, Delegate, Fail, Finish, RunView, TaskOutcome, TaskStatus
from refund_app.planner import RefundPlanner

ORDER = {
    "found": True,
    "order": {
        "order_id": "ORD-1001",
        "customer_id": "CUST-1",
        "payment_id": "pay_1",
        "amount_cents": 100,
        "currency": "USD",
        "category": "books",
        "delivered_on": "2026-11-20",
    },
}
T = "2026-11-24T00:00:00+00:00"


def view(**done: tuple[TaskStatus, Any]) -> RunView:
    context = {"order_id": ContextEntry(value="ORD-1001", source="input", trusted=True, stage=0, recorded_at=T)}
    history = []
    for stage, (agent, (status, value)) in enumerate(done.items(), start=1):
        history.append(
            TaskOutcome(
                stage=stage, index=0, agent=agent, key=agent, status=status, attempts=3, started_at=T, ended_at=T
            )
        )
        if value is not None:
            context[agent] = ContextEntry(value=value, source=agent, trusted=True, stage=stage, recorded_at=T)
    return RunView(run_id="r", workflow="refund", stage=len(done), context=context, history=history)


OK, FAILED = TaskStatus.SUCCEEDED, TaskStatus.FAILED
ELIGIBLE = {"decision": "eligible", "reason": "ok", "days_since_delivery": 4}
EXPIRED = {"decision": "window_expired", "reason": "too late", "days_since_delivery": 90}
REVIEW = {"decision": "needs_review", "reason": "big", "days_since_delivery": 1}


def agents(decision: Any) -> list[str]:
    assert isinstance(decision, Delegate)
    return [t.agent for t in decision.tasks]


def test_the_route_of_an_eligible_refund() -> None:
    planner = RefundPlanner()
    assert agents(planner.decide(view())) == ["order_lookup"]
    assert agents(planner.decide(view(order_lookup=(OK, ORDER)))) == ["return_policy"]
    assert agents(planner.decide(view(order_lookup=(OK, ORDER), return_policy=(OK, ELIGIBLE)))) == ["payment_reversal"]
    refunded = {"refund_id": "re_1", "amount_cents": 100, "currency": "USD"}
    paid = view(order_lookup=(OK, ORDER), return_policy=(OK, ELIGIBLE), payment_reversal=(OK, refunded))
    assert agents(planner.decide(paid)) == ["customer_notifier"]


@pytest.mark.parametrize("verdict", [EXPIRED, REVIEW])
def test_no_payment_is_attempted_unless_the_policy_says_eligible(verdict: dict[str, Any]) -> None:
    decision = RefundPlanner().decide(view(order_lookup=(OK, ORDER), return_policy=(OK, verdict)))
    assert "payment_reversal" not in agents(decision)


def test_a_payment_that_kept_failing_is_escalated_and_notified_concurrently() -> None:
    decision = RefundPlanner().decide(
        view(order_lookup=(OK, ORDER), return_policy=(OK, ELIGIBLE), payment_reversal=(FAILED, None))
    )
    assert agents(decision) == ["case_escalator", "customer_notifier"]
    assert isinstance(decision, Delegate)
    assert "3 attempts" in str(decision.tasks[0].params["reason"])
    assert decision.tasks[1].params == {"escalated": True}


def test_a_failed_lookup_fails_the_run_and_a_missing_order_is_rejected() -> None:
    assert isinstance(RefundPlanner().decide(view(order_lookup=(FAILED, None))), Fail)
    rejected = RefundPlanner().decide(view(order_lookup=(OK, {"found": False})))
    assert isinstance(rejected, Finish)
    assert rejected.result["outcome"] == "rejected"
