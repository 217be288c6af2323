"""The test app, declared once.

`CATALOG` is what Baton's suites run against. `MODEL_CATALOG` is the same app plus two model-backed agents and a
workflow each (the `summarizer`, on a foundation model; the `assistant`, on a cross-region inference profile with a
guardrail, whose tools include an irreversible payment and a page reader whose URL the model chooses), whose
offline fixture registers a RuleModel for each (tests.testapp.offline:use_models).
"""

from __future__ import annotations

import json

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
from tests.testapp import models
from tests.testapp.tools import BANK_HOST, RATINGS_HOST, REVIEWS_HOST

RESOURCES = [
    # the items are the shop's public listing (title, price, the seller's payout account): reading them is no
    # sensitive data, so the model-backed assistant (untrusted pages, payments) is A+C, not A+B+C (the Rule of Two)
    ResourceSpec(
        kind=ResourceKind.TABLE, name="items", description="items, by id", partition_key="item_id", public=True
    ),
    ResourceSpec(kind=ResourceKind.SECRET, name="ratings_key", description="API key of the ratings service"),
    ResourceSpec(kind=ResourceKind.SECRET, name="bank_key", description="API key of the bank"),
    ResourceSpec(kind=ResourceKind.QUEUE, name="outbox", description="notes for people"),
    ResourceSpec(
        kind=ResourceKind.PARAMETER, name="thresholds", description="scoring thresholds", value=json.dumps({"good": 70})
    ),
]

TOOLS = [
    ToolSpec(
        name="read_item",
        description="read one item by id",
        implementation="tests.testapp.tools:read_item",
        arguments=models.ReadItemArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,
        grants=(Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="items")),),
    ),
    ToolSpec(
        name="fetch_rating",
        description="ask an external ratings service",
        implementation="tests.testapp.tools:fetch_rating",
        arguments=models.FetchRatingArgs,
        side_effect=SideEffect.READ,
        secrets=("ratings_key",),
        egress=(RATINGS_HOST,),
    ),
    ToolSpec(
        name="send_note",
        description="put a note in the outbox",
        implementation="tests.testapp.tools:send_note",
        arguments=models.SendNoteArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,
        grants=(Grant(actions=("sqs:SendMessage",), resource=ResourceRef(kind=ResourceKind.QUEUE, name="outbox")),),
    ),
    ToolSpec(
        name="pay_out",
        description="pay an account through the bank's API",
        implementation="tests.testapp.tools:pay_out",
        arguments=models.PayOutArgs,
        side_effect=SideEffect.IRREVERSIBLE,
        secrets=("bank_key",),
        egress=(BANK_HOST,),
    ),
]


def _agent(
    name: str, input_model: type, output_model: type, tools: tuple[str, ...], context: tuple[str, ...]
) -> AgentSpec:
    return AgentSpec(
        name=name,
        description=f"the test app's {name}",
        implementation=f"tests.testapp.agents:{name}",
        input_model=input_model,
        output_model=output_model,
        tools=tools,
        context_keys=context,
    )


AGENTS = [
    _agent("reader", models.ReaderInput, models.ItemFound, ("read_item",), ("item_id",)),
    _agent("rater", models.RaterInput, models.Rating, ("fetch_rating",), ("item_id",)),
    _agent("scorer", models.ScorerInput, models.Score, (), ("reader",)),
    _agent("notifier", models.NotifierInput, models.NoteSent, ("send_note",), ("item_id", "scorer")),
    _agent("payer", models.PayerInput, models.Payment, ("pay_out", "fetch_rating"), ("reader",)),
]

RELAY = WorkflowSpec(
    name="relay",
    description="sequential: read, score, notify",
    input_model=models.RelayRequest,
    planner="tests.testapp.planners:RelayPlanner",
    agents=("reader", "scorer", "notifier"),
    trusted_input_keys=("item_id",),
    offline_fixture="tests.testapp.offline:prepare",
)
WORKFLOWS = [
    RELAY,
    RELAY.model_copy(update={"name": "relay-express", "execution": "express", "offline_fixture": None}),
    WorkflowSpec(
        name="fanout",
        description="concurrent: the item and three external ratings in one stage, then a score",
        input_model=models.FanoutRequest,
        planner="tests.testapp.planners:FanoutPlanner",
        agents=("reader", "rater", "scorer"),
        trusted_input_keys=("item_id",),
        budgets=Budgets(max_stages=4, max_tasks_per_stage=4, max_concurrency=4),
    ),
    WorkflowSpec(
        name="payout",
        description="an irreversible payment, and the paths untrusted data could take to it",
        input_model=models.PayoutRequest,
        planner="tests.testapp.planners:PayoutPlanner",
        agents=("reader", "payer"),
        trusted_input_keys=("item_id", "mode"),
    ),
]

CATALOG: Catalog = build_catalog(resources=RESOURCES, tools=TOOLS, agents=AGENTS, workflows=WORKFLOWS)


# ---------------------------------------------------------------- model-backed agents

SUMMARIZER_MODEL = ModelSpec(model_id="amazon.nova-micro-v1:0", max_iterations=4)
ASSISTANT_MODEL = ModelSpec(
    model_id="us.anthropic.claude-3-5-haiku-20241022-v1:0",
    profile_regions=("us-east-1", "us-west-2"),
    guardrail_id="batontestguard",
    guardrail_version="1",
    max_iterations=6,
)
MODEL_TOOLS = [
    ToolSpec(
        name="fetch_page",
        description="read a web page (the reviews site) by its URL",
        implementation="tests.testapp.tools:fetch_page",
        arguments=models.FetchPageArgs,
        side_effect=SideEffect.READ,
        egress=(REVIEWS_HOST,),
    ),
]
MODEL_AGENTS = [
    AgentSpec(
        name="summarizer",
        description="the test app's summarizer: a model-backed agent that reads one item and summarizes it",
        model=SUMMARIZER_MODEL,
        instructions="Read the item with read_item, then summarize it in one short sentence.",
        input_model=models.SummarizerInput,
        output_model=models.Summary,
        tools=("read_item",),
        context_keys=("item_id",),
    ),
    AgentSpec(
        name="assistant",
        description="the test app's assistant: a model-backed agent answering a caller's note about an item",
        model=ASSISTANT_MODEL,
        instructions=(
            "Answer the caller's note about the item. Read the item with read_item; the reviews site and the "
            "ratings service may help. Pay an item's account only when the task asks for it in trusted input."
        ),
        input_model=models.AssistantInput,
        output_model=models.Answer,
        tools=("read_item", "fetch_rating", "fetch_page", "pay_out"),
        context_keys=("item_id",),
    ),
]
MODEL_WORKFLOWS = [
    WorkflowSpec(
        name="summarize",
        description="a model-backed agent reads an item and summarizes it",
        input_model=models.SummarizeRequest,
        planner="tests.testapp.planners:SummarizePlanner",
        agents=("summarizer",),
        trusted_input_keys=("item_id",),
        offline_fixture="tests.testapp.offline:use_models",
    ),
    WorkflowSpec(
        name="assist",
        description="a model-backed agent answers the caller's note (untrusted) about an item",
        input_model=models.AssistRequest,
        planner="tests.testapp.planners:AssistPlanner",
        agents=("assistant",),
        trusted_input_keys=("item_id",),
    ),
]
MODEL_CATALOG: Catalog = build_catalog(
    resources=RESOURCES,
    tools=[*TOOLS, *MODEL_TOOLS],
    agents=[*AGENTS, *MODEL_AGENTS],
    workflows=[*WORKFLOWS, *MODEL_WORKFLOWS],
)
