"""The support-triage workflow, declared once: a model planner over the refund app's agents and two of its own.

A customer's free-text message (untrusted) arrives with who they are and which order they picked (trusted: the
support front end authenticates them). The planner, a Bedrock model, reads the message only fenced and labelled,
and chooses each step: the model-backed FAQ agent (answers from the knowledge base), the refund app's agents
(order lookup, return policy, payment reversal, notification) or a hand-off to a human queue.
"""

from __future__ import annotations

from baton.catalog import (
    AgentSpec,
    Budgets,
    Catalog,
    Grant,
    ModelSpec,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from refund_app.catalog import CATALOG as REFUND_CATALOG
from support_triage_app import models

RESOURCES = [
    ResourceSpec(
        kind=ResourceKind.TABLE,
        name="help_articles",
        description="the knowledge base: help articles, by article id",
        partition_key="article_id",
    ),
    ResourceSpec(kind=ResourceKind.QUEUE, name="support_handoffs", description="conversations a person takes over"),
]

TOOLS = [
    ToolSpec(
        name="search_articles",
        description="find the help articles that best match a few words",
        implementation="support_triage_app.tools:search_articles",
        arguments=models.SearchArticlesArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,  # the project's own articles, written by its support team
        grants=(
            Grant(actions=("dynamodb:Scan",), resource=ResourceRef(kind=ResourceKind.TABLE, name="help_articles")),
        ),
    ),
    ToolSpec(
        name="queue_for_human",
        description="put the conversation in the queue a support person works from",
        implementation="support_triage_app.tools:queue_for_human",
        arguments=models.QueueForHumanArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # a message id from the project's own queue
        grants=(
            Grant(
                actions=("sqs:SendMessage",),
                resource=ResourceRef(kind=ResourceKind.QUEUE, name="support_handoffs"),
            ),
        ),
    ),
]

FAQ_MODEL = ModelSpec(model_id="amazon.nova-lite-v1:0", max_tokens=1024, max_iterations=16)
PLANNER_MODEL = ModelSpec(
    model_id="us.anthropic.claude-3-5-haiku-20241022-v1:0",
    profile_regions=("us-east-1", "us-east-2", "us-west-2"),
    max_tokens=1024,
)

AGENTS = [
    AgentSpec(
        name="faq",
        description="answers a customer's questions from the help articles (never acts on an order)",
        model=FAQ_MODEL,
        instructions=(
            "You answer customers' questions about shopping with us. Look each question up with search_articles "
            "and answer only from the articles you found, briefly and politely, naming the articles you used. "
            "If the articles do not answer a question, say so and set answered to false."
        ),
        input_model=models.FaqInput,
        output_model=models.FaqAnswer,
        tools=("search_articles",),
        context_keys=("message",),
    ),
    AgentSpec(
        name="handoff",
        description="hands the conversation to a support person, with a short reason",
        implementation="support_triage_app.agents:handoff",
        input_model=models.HandoffInput,
        output_model=models.HandoffQueued,
        tools=("queue_for_human",),
        context_keys=("customer_id", "order_id", "message"),
    ),
]

WORKFLOW = WorkflowSpec(
    name="support-triage",
    description="a customer's message, answered, acted on or handed to a person",
    input_model=models.SupportRequest,
    planner="baton.ai.planner:ModelPlanner",
    planner_model=PLANNER_MODEL,
    planner_instructions=(
        "Choose what handles the customer's message. A question: the faq agent (with order_lookup, at the same "
        "step, when the order matters). A refund request: order_lookup, then return_policy; payment_reversal only "
        "when the policy says eligible, then customer_notifier; a refund the policy sends for review: handoff. "
        "An order that is not the signed-in customer's, or a customer asking for a person: handoff. Finish with "
        "what the customer is told and what was done."
    ),
    planner_sees_untrusted="fenced",  # triage needs the message's words; its params are untrusted after reading
    agents=("order_lookup", "return_policy", "payment_reversal", "customer_notifier", "faq", "handoff"),
    trusted_input_keys=("customer_id", "order_id"),
    # a triage is a few model calls: these bound what a long or hostile message can make it spend
    budgets=Budgets(
        max_stages=8,
        max_tasks_per_stage=2,
        max_concurrency=2,
        max_model_calls=30,
        max_input_tokens=30_000,
        max_output_tokens=8_000,
    ),
    execution="standard",  # money can move (payment_reversal): exactly-once orchestration
    offline_fixture="support_triage_app.offline:prepare",
)

# the refund app's agents, tools and resources are reused as declared there; its workflow is not deployed here
REUSED_AGENTS = ("order_lookup", "return_policy", "payment_reversal", "customer_notifier")
_reused_tools = {tool for name in REUSED_AGENTS for tool in REFUND_CATALOG.agents[name].tools}
_reused_resources = {ref.name for tool in _reused_tools for ref in REFUND_CATALOG.tools[tool].resource_refs()}

CATALOG: Catalog = build_catalog(
    resources=[*(REFUND_CATALOG.resources[name] for name in sorted(_reused_resources)), *RESOURCES],
    tools=[*(REFUND_CATALOG.tools[name] for name in sorted(_reused_tools)), *TOOLS],
    agents=[*(REFUND_CATALOG.agents[name] for name in REUSED_AGENTS), *AGENTS],
    workflows=[WORKFLOW],
)
