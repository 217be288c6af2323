"""The refund workflow, declared once: infra derives IAM from this, the runtime enforces it."""

from __future__ import annotations

import json

from baton.catalog import (
    AgentSpec,
    ApprovalSettings,
    Budgets,
    Catalog,
    Grant,
    OAuthClientCredentials,
    PolicyFile,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from refund_app import models
from refund_app.endpoints import PAYMENTS_HOST, PAYMENTS_TOKEN_URL

RESOURCES = [
    ResourceSpec(kind=ResourceKind.TABLE, name="orders", description="orders, by order id", partition_key="order_id"),
    ResourceSpec(
        kind=ResourceKind.PARAMETER,
        name="return_policy",
        description="the return policy document",
        value=json.dumps({"window_days": 30, "review_above_cents": 50000, "non_returnable_categories": ["gift_card"]}),
        public=True,  # the shop publishes it: reading it is no sensitive data (the Rule of Two)
    ),
    ResourceSpec(
        kind=ResourceKind.SECRET,
        name="payment_api_key",
        # the name is historical: it holds OAuth client credentials, {"client_id": ..., "client_secret": ...}
        description="OAuth client credentials of the payment provider",
    ),
    ResourceSpec(kind=ResourceKind.QUEUE, name="refund_escalations", description="refunds a human must look at"),
    ResourceSpec(kind=ResourceKind.QUEUE, name="refund_approvals", description="refunds waiting for an approver"),
    ResourceSpec(kind=ResourceKind.TOPIC, name="customer_notifications", description="messages to customers"),
]

TOOLS = [
    ToolSpec(
        name="get_order",
        description="read one order by id",
        implementation="refund_app.tools:get_order",
        arguments=models.GetOrderArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,  # reads the project's own table / parameter
        grants=(Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="orders")),),
    ),
    ToolSpec(
        name="get_return_policy",
        description="read the current return policy",
        implementation="refund_app.tools:get_return_policy",
        arguments=models.GetReturnPolicyArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,  # reads the project's own table / parameter
        grants=(
            Grant(
                actions=("ssm:GetParameter",),
                resource=ResourceRef(kind=ResourceKind.PARAMETER, name="return_policy"),
            ),
        ),
    ),
    ToolSpec(
        name="refund_payment",
        description="refund a payment through the payment provider's API (idempotent per order)",
        implementation="refund_app.tools:refund_payment",
        arguments=models.RefundPaymentArgs,
        side_effect=SideEffect.IRREVERSIBLE,
        secrets=("payment_api_key",),
        egress=(PAYMENTS_HOST,),
        # the tool gets short-lived access tokens (ctx.access_token()), never the client secret
        oauth=OAuthClientCredentials(
            token_url=PAYMENTS_TOKEN_URL,
            secret="payment_api_key",  # noqa: S106 (the secret's name, not its value)
            scope="refunds:write",
        ),
        output_trusted=False,
    ),
    ToolSpec(
        name="open_case",
        description="open a case for a human in the escalation queue",
        implementation="refund_app.tools:open_case",
        arguments=models.OpenCaseArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # a message id from the project's own queue / topic
        grants=(
            Grant(
                actions=("sqs:SendMessage",),
                resource=ResourceRef(kind=ResourceKind.QUEUE, name="refund_escalations"),
            ),
        ),
    ),
    ToolSpec(
        name="notify_customer",
        description="send the customer a message",
        implementation="refund_app.tools:notify_customer",
        arguments=models.NotifyCustomerArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # a message id from the project's own queue / topic
        grants=(
            Grant(
                actions=("sns:Publish",),
                resource=ResourceRef(kind=ResourceKind.TOPIC, name="customer_notifications"),
            ),
        ),
    ),
]

AGENTS = [
    AgentSpec(
        name="order_lookup",
        description="retrieves the order",
        implementation="refund_app.agents:order_lookup",
        input_model=models.OrderLookupInput,
        output_model=models.OrderLookupResult,
        tools=("get_order",),
        context_keys=("order_id",),
    ),
    AgentSpec(
        name="return_policy",
        description="judges the order against the return policy",
        implementation="refund_app.agents:return_policy",
        input_model=models.ReturnPolicyInput,
        output_model=models.PolicyVerdict,
        tools=("get_return_policy",),
        context_keys=("order_lookup",),
    ),
    AgentSpec(
        name="payment_reversal",
        description="reverses the payment of an eligible order",
        implementation="refund_app.agents:payment_reversal",
        input_model=models.PaymentReversalInput,
        output_model=models.RefundReceipt,
        tools=("refund_payment",),
        context_keys=("order_lookup", "return_policy"),
        reserved_concurrency=5,
        # money moves: its calls are under the app's Cedar policies (refund_app/policies.cedar), deny by default
        policies=PolicyFile(package="refund_app", name="policies.cedar"),
    ),
    AgentSpec(
        name="case_escalator",
        description="hands the refund to a human",
        implementation="refund_app.agents:case_escalator",
        input_model=models.EscalationInput,
        output_model=models.CaseOpened,
        tools=("open_case",),
        context_keys=("order_lookup",),
    ),
    AgentSpec(
        name="customer_notifier",
        description="tells the customer the outcome",
        implementation="refund_app.agents:customer_notifier",
        input_model=models.NotifierInput,
        output_model=models.NotificationSent,
        tools=("notify_customer",),
        context_keys=("order_lookup", "return_policy", "payment_reversal"),
    ),
]

WORKFLOW = WorkflowSpec(
    name="refund",
    description="a customer refund request, from order lookup to notification",
    input_model=models.RefundRequest,
    planner="refund_app.planner:RefundPlanner",
    agents=("order_lookup", "return_policy", "payment_reversal", "case_escalator", "customer_notifier"),
    trusted_input_keys=("order_id",),
    budgets=Budgets(max_stages=8, max_tasks_per_stage=4, max_concurrency=4),
    # money moves: exactly-once orchestration and a full execution history are worth $0.47 per 1,000 runs;
    # "express" also works (the payment is idempotent per order) at about $0.07, with at-least-once semantics
    execution="standard",
    # a refund a policy holds (policies.cedar: above 100.00, or with tainted arguments) waits for one of these
    # roles (never the run's starter), who is told through the refund_approvals queue. The account is the offline
    # one (123456789012): a deployment declares its own approver roles.
    approvals=ApprovalSettings(
        approver_roles=("arn:aws:iam::123456789012:role/refund-approver",),
        notify=ResourceRef(kind=ResourceKind.QUEUE, name="refund_approvals"),
        default_expiry_seconds=3600,
    ),
    offline_fixture="refund_app.offline:prepare",
)

CATALOG: Catalog = build_catalog(resources=RESOURCES, tools=TOOLS, agents=AGENTS, workflows=[WORKFLOW])
