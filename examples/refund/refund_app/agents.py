"""The refund workflow's agents: each a narrow specialist that acts only through its tools."""

from __future__ import annotations

from datetime import UTC, date, datetime

from baton.tools import AgentTaskFailed, ToolBox
from refund_app.models import (
    CaseOpened,
    EscalationInput,
    NotificationSent,
    NotifierInput,
    Order,
    OrderLookupInput,
    OrderLookupResult,
    PaymentReversalInput,
    PolicyVerdict,
    RefundReceipt,
    ReturnPolicy,
    ReturnPolicyInput,
)


def order_lookup(task: OrderLookupInput, tools: ToolBox) -> OrderLookupResult:
    item = tools.call("get_order", order_id=task.order_id)
    if item is None:
        return OrderLookupResult(found=False)
    return OrderLookupResult(found=True, order=Order.model_validate(item))


def return_policy(task: ReturnPolicyInput, tools: ToolBox) -> PolicyVerdict:
    order = _order(task.order_lookup)
    policy = ReturnPolicy.model_validate_json(tools.call("get_return_policy"))
    days = (datetime.now(UTC).date() - date.fromisoformat(order.delivered_on)).days
    if order.category in policy.non_returnable_categories:
        return PolicyVerdict(
            decision="needs_review", reason=f"category {order.category} is not returnable", days_since_delivery=days
        )
    if days > policy.window_days:
        return PolicyVerdict(
            decision="window_expired",
            reason=f"delivered {days} days ago; the return window is {policy.window_days} days",
            days_since_delivery=days,
        )
    if order.amount_cents > policy.review_above_cents:
        return PolicyVerdict(
            decision="needs_review",
            reason=f"amount above {policy.review_above_cents} cents needs a human",
            days_since_delivery=days,
        )
    return PolicyVerdict(decision="eligible", reason="within the return window", days_since_delivery=days)


def payment_reversal(task: PaymentReversalInput, tools: ToolBox) -> RefundReceipt:
    order = _order(task.order_lookup)
    if task.return_policy.decision != "eligible":
        # defence in depth: the planner should never delegate this, and the agent refuses if it does
        raise AgentTaskFailed(f"refusing to refund an order judged {task.return_policy.decision}")
    refund = tools.call(
        "refund_payment",
        payment_id=order.payment_id,
        amount_cents=order.amount_cents,
        currency=order.currency,
        idempotency_key=f"refund-{order.order_id}",
    )
    return RefundReceipt(refund_id=refund["refund_id"], amount_cents=refund["amount_cents"], currency=order.currency)


def case_escalator(task: EscalationInput, tools: ToolBox) -> CaseOpened:
    order = _order(task.order_lookup)
    message_id = tools.call("open_case", order_id=order.order_id, reason=task.reason, amount_cents=order.amount_cents)
    return CaseOpened(case_id=f"case-{message_id}")


def customer_notifier(task: NotifierInput, tools: ToolBox) -> NotificationSent:
    order = _order(task.order_lookup)
    amount = f"{order.amount_cents / 100:.2f} {order.currency}"
    if task.payment_reversal is not None:
        subject, message = "Your refund is on its way", f"We refunded {amount} for order {order.order_id}."
    elif task.escalated:
        subject = "We are reviewing your refund"
        message = f"A member of our team is reviewing the refund of {amount} for order {order.order_id}."
    elif task.return_policy is not None and task.return_policy.decision == "window_expired":
        subject = "We cannot refund this order"
        message = f"Order {order.order_id} cannot be refunded: {task.return_policy.reason}."
    else:
        raise AgentTaskFailed("nothing to tell the customer yet")
    message_id = tools.call("notify_customer", customer_id=order.customer_id, subject=subject, message=message)
    return NotificationSent(message_id=message_id, summary=subject)


def _order(lookup: OrderLookupResult) -> Order:
    if lookup.order is None:
        raise AgentTaskFailed("no order to work on")
    return lookup.order
