"""The refund planner: routes on intermediate results, never on free text.

eligible        -> reverse payment -> notify
window expired  -> notify with the reason (no payment)
needs review    -> escalate and notify, concurrently
payment failing after retries -> escalate and notify, concurrently
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue

from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskOutcome, TaskStatus
from refund_app.models import OrderLookupResult, PolicyVerdict, RefundReceipt


def _ok(outcome: TaskOutcome | None) -> bool:
    return outcome is not None and outcome.status is TaskStatus.SUCCEEDED


class RefundPlanner:
    # Where decide() can go from each step, for `baton graph refund` (from, to, label): "input" is the run's
    # start, "finish" and "fail" its ends. A stage of two tasks is two edges with the same label.
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "order_lookup", "retrieve the order"),
        ("order_lookup", "fail", "lookup failed"),
        ("order_lookup", "finish", "order not found: rejected"),
        ("order_lookup", "return_policy", "order found"),
        ("return_policy", "fail", "policy check failed"),
        ("return_policy", "payment_reversal", "eligible"),
        ("return_policy", "customer_notifier", "window expired"),
        ("return_policy", "case_escalator", "needs review: escalate"),
        ("return_policy", "customer_notifier", "needs review: escalate"),
        ("payment_reversal", "customer_notifier", "refunded"),
        ("payment_reversal", "case_escalator", "failed after retries: escalate"),
        ("payment_reversal", "customer_notifier", "failed after retries: escalate"),
        ("case_escalator", "finish", "escalated"),
        ("customer_notifier", "finish", "refunded, denied or escalated"),
    )

    def decide(self, run: RunView) -> Decision:
        lookup = run.latest("order_lookup")
        if lookup is None:
            return Delegate(tasks=[Task(agent="order_lookup")], reason="retrieve the order")
        if not _ok(lookup):
            return Fail(reason=f"order lookup failed: {lookup.error}")
        order = OrderLookupResult.model_validate(run.value("order_lookup"))
        if not order.found or order.order is None:
            return Finish(
                result={"outcome": "rejected", "order_id": run.value("order_id"), "reason": "order not found"}
            )

        policy = run.latest("return_policy")
        if policy is None:
            return Delegate(tasks=[Task(agent="return_policy")], reason="check the return policy")
        if not _ok(policy):
            return Fail(reason=f"return policy check failed: {policy.error}")
        verdict = PolicyVerdict.model_validate(run.value("return_policy"))

        if run.latest("customer_notifier") is not None:
            return Finish(result=self._result(run, verdict))
        if verdict.decision == "window_expired":
            return Delegate(tasks=[Task(agent="customer_notifier")], reason=verdict.reason)
        if verdict.decision == "needs_review":
            return self._escalate(verdict.reason)

        payment = run.latest("payment_reversal")
        if payment is None:
            return Delegate(tasks=[Task(agent="payment_reversal")], reason="reverse the payment")
        if _ok(payment):
            return Delegate(tasks=[Task(agent="customer_notifier")], reason="tell the customer")
        return self._escalate(f"payment reversal failed after {payment.attempts} attempts: {payment.error_type}")

    @staticmethod
    def _escalate(reason: str) -> Delegate:
        return Delegate(
            tasks=[
                Task(agent="case_escalator", params={"reason": reason[:300]}),
                Task(agent="customer_notifier", params={"escalated": True}),
            ],
            reason=reason,
        )

    @staticmethod
    def _result(run: RunView, verdict: PolicyVerdict) -> dict[str, JsonValue]:
        order = OrderLookupResult.model_validate(run.value("order_lookup")).order
        if order is None:  # decide() checked this before any notification was delegated
            raise ValueError("no order to report on")
        result: dict[str, JsonValue] = {
            "order_id": order.order_id,
            "amount_cents": order.amount_cents,
            "currency": order.currency,
            "policy": verdict.decision,
            "reason": verdict.reason,
            "customer_notified": _ok(run.latest("customer_notifier")),
        }
        if _ok(run.latest("payment_reversal")):
            receipt = RefundReceipt.model_validate(run.value("payment_reversal"))
            result |= {"outcome": "refunded", "refund_id": receipt.refund_id}
        elif run.latest("case_escalator") is not None:
            escalation = run.latest("case_escalator")
            result |= {"outcome": "escalated", "case_opened": _ok(escalation), "case": run.value("case_escalator")}
            payment = run.latest("payment_reversal")
            if payment is not None:
                result["reason"] = f"payment reversal failed after {payment.attempts} attempts"
        else:
            result["outcome"] = "denied"
        return result
