"""Every boundary of the refund workflow: its input, each agent's input and output, each tool's arguments."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ORDER_ID = r"^ORD-\d{4,10}$"


class Boundary(BaseModel):
    # built at first use: a Lambda function builds only the models on its own path
    model_config = ConfigDict(extra="forbid", defer_build=True)


class RefundRequest(Boundary):
    """What a customer (or a support tool on their behalf) submits."""

    order_id: str = Field(pattern=ORDER_ID, description="the order to refund")
    reason: str = Field(default="", max_length=2000, description="the customer's own words: untrusted text")


class Order(Boundary):
    order_id: str = Field(pattern=ORDER_ID)
    customer_id: str = Field(pattern=r"^CUST-\d{1,10}$")
    payment_id: str = Field(pattern=r"^pay_[A-Za-z0-9_]{1,40}$")
    amount_cents: int = Field(gt=0)
    currency: Literal["USD", "EUR", "GBP"]
    category: str = Field(pattern=r"^[a-z_]{1,30}$")
    delivered_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class OrderLookupInput(Boundary):
    order_id: str = Field(pattern=ORDER_ID)


class OrderLookupResult(Boundary):
    found: bool
    order: Order | None = None


class ReturnPolicyInput(Boundary):
    order_lookup: OrderLookupResult


class PolicyVerdict(Boundary):
    decision: Literal["eligible", "window_expired", "needs_review"]
    reason: str = Field(max_length=300)
    days_since_delivery: int


class PaymentReversalInput(Boundary):
    order_lookup: OrderLookupResult
    return_policy: PolicyVerdict


class RefundReceipt(Boundary):
    refund_id: str = Field(pattern=r"^re_[A-Za-z0-9]{1,40}$")
    amount_cents: int
    currency: str


class EscalationInput(Boundary):
    order_lookup: OrderLookupResult
    reason: str = Field(max_length=300)


class CaseOpened(Boundary):
    case_id: str


class NotifierInput(Boundary):
    order_lookup: OrderLookupResult
    return_policy: PolicyVerdict | None = None
    payment_reversal: RefundReceipt | None = None
    escalated: bool = False


class NotificationSent(Boundary):
    message_id: str
    summary: str = Field(max_length=200)


# ---------------------------------------------------------------- tool arguments


class GetOrderArgs(Boundary):
    order_id: str = Field(pattern=ORDER_ID)


class GetReturnPolicyArgs(Boundary):
    pass


class RefundPaymentArgs(Boundary):
    payment_id: str = Field(pattern=r"^pay_[A-Za-z0-9_]{1,40}$")
    amount_cents: int = Field(gt=0, le=1_000_000)
    currency: Literal["USD", "EUR", "GBP"]
    # the same key for every attempt at the same order: the provider refunds at most once
    idempotency_key: str = Field(pattern=r"^refund-ORD-\d{4,10}$")


class OpenCaseArgs(Boundary):
    order_id: str = Field(pattern=ORDER_ID)
    reason: str = Field(max_length=300)
    amount_cents: int = Field(ge=0)


class NotifyCustomerArgs(Boundary):
    customer_id: str = Field(pattern=r"^CUST-\d{1,10}$")
    subject: str = Field(max_length=100)
    message: str = Field(max_length=2000)


class ReturnPolicy(Boundary):
    """The policy document kept in the return_policy parameter."""

    window_days: int = Field(gt=0)
    review_above_cents: int = Field(gt=0)
    non_returnable_categories: list[str]
