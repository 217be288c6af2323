"""The refund workflow's tools. Each gets only its validated arguments and its own scoped context."""

from __future__ import annotations

from typing import Any

from baton.tools import RetryableToolError, ToolContext
from refund_app.endpoints import PAYMENTS_HOST
from refund_app.models import (
    GetOrderArgs,
    GetReturnPolicyArgs,
    NotifyCustomerArgs,
    OpenCaseArgs,
    RefundPaymentArgs,
)


class PaymentRejected(Exception):
    """The provider refused the refund (a permanent 4xx); retrying cannot help."""


def get_order(args: GetOrderArgs, ctx: ToolContext) -> dict[str, Any] | None:
    item = (
        ctx.aws("dynamodb")
        .get_item(TableName=ctx.resource("orders"), Key={"order_id": {"S": args.order_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {name: int(value["N"]) if "N" in value else value["S"] for name, value in item.items()}


def get_return_policy(args: GetReturnPolicyArgs, ctx: ToolContext) -> str:
    response = ctx.aws("ssm").get_parameter(Name=ctx.resource("return_policy"))
    return str(response["Parameter"]["Value"])


def refund_payment(args: RefundPaymentArgs, ctx: ToolContext) -> dict[str, Any]:
    response = ctx.http().request(
        "POST",
        f"https://{PAYMENTS_HOST}/v1/refunds",
        headers={
            "Authorization": f"Bearer {ctx.access_token()}",
            "Idempotency-Key": args.idempotency_key,
        },
        json_body={"payment_id": args.payment_id, "amount_cents": args.amount_cents, "currency": args.currency},
    )
    if response.status == 429 or response.status >= 500:
        raise RetryableToolError(f"payment provider answered {response.status}")
    if not 200 <= response.status < 300:  # a redirect is handed back, never followed: it is no refund either
        raise PaymentRejected(f"payment provider refused the refund with {response.status}")
    body: dict[str, Any] = response.json()
    return body


def open_case(args: OpenCaseArgs, ctx: ToolContext) -> str:
    response = ctx.aws("sqs").send_message(
        QueueUrl=ctx.resource("refund_escalations"),
        MessageBody=args.model_dump_json(),
        MessageAttributes={"order_id": {"DataType": "String", "StringValue": args.order_id}},
    )
    return str(response["MessageId"])


def notify_customer(args: NotifyCustomerArgs, ctx: ToolContext) -> str:
    response = ctx.aws("sns").publish(
        TopicArn=ctx.resource("customer_notifications"),
        Subject=args.subject,
        Message=args.message,
        MessageAttributes={"customer_id": {"DataType": "String", "StringValue": args.customer_id}},
    )
    return str(response["MessageId"])
