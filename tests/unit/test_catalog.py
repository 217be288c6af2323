"""The catalog refuses to load when it contradicts itself, naming the culprit."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.catalog import (
    AgentSpec,
    CatalogError,
    Grant,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from refund_app.catalog import CATALOG


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str


class Lenient(BaseModel):
    order_id: str


TABLE = ResourceSpec(kind=ResourceKind.TABLE, name="orders", description="orders", partition_key="order_id")


def tool(name: str = "get_order", resource: str = "orders", **overrides: object) -> ToolSpec:
    fields: dict[str, object] = {
        "name": name,
        "description": "read an order",
        "implementation": "refund_app.tools:get_order",
        "arguments": Args,
        "side_effect": SideEffect.READ,
        "grants": (Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=resource)),),
    }
    fields.update(overrides)
    return ToolSpec.model_validate(fields)


def agent(name: str = "lookup", tools: tuple[str, ...] = ("get_order",), **overrides: object) -> AgentSpec:
    fields: dict[str, object] = {
        "name": name,
        "description": "looks up",
        "implementation": "refund_app.agents:order_lookup",
        "input_model": Args,
        "output_model": Args,
        "tools": tools,
        "context_keys": ("order_id",),
    }
    fields.update(overrides)
    return AgentSpec.model_validate(fields)


def workflow(agents: tuple[str, ...] = ("lookup",)) -> WorkflowSpec:
    return WorkflowSpec(
        name="wf",
        description="test",
        input_model=Request,
        planner="refund_app.planner:RefundPlanner",
        agents=agents,
    )


def build(**parts: list[object]) -> object:
    defaults: dict[str, list[object]] = {
        "resources": [TABLE],
        "tools": [tool()],
        "agents": [agent()],
        "workflows": [workflow()],
    }
    defaults.update(parts)
    return build_catalog(**defaults)  # type: ignore[arg-type]


def test_a_consistent_catalog_loads() -> None:
    # Given a resource, a tool granting access to it, an agent using the tool and a workflow using the agent
    # When the catalog is built, Then everything is indexed by name
    catalog = build()
    assert set(catalog.agents) == {"lookup"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("parts", "culprit"),
    [
        ({"tools": [tool(), tool()]}, "duplicate tool name 'get_order'"),
        ({"agents": [agent(tools=("get_orders",))]}, "agent 'lookup' uses unknown tool 'get_orders'"),
        ({"tools": [tool(resource="customers")]}, "tool 'get_order' grants access to undeclared resource 'customers'"),
        ({"workflows": [workflow(agents=("lookup", "ghost"))]}, "workflow 'wf' uses unknown agent 'ghost'"),
        ({"agents": [agent(context_keys=("secret_sauce",))]}, "reads context key 'secret_sauce'"),
        (
            {"tools": [tool(egress=("api.example.com",), output_trusted=True)]},
            "tool 'get_order' reaches outside the account, so it may not claim trusted output",
        ),
        (
            {"tools": [tool(arguments=Lenient)]},
            "tool 'get_order' arguments Lenient must forbid extra fields",
        ),
        (
            {"resources": [ResourceSpec(kind=ResourceKind.QUEUE, name="orders", description="q")]},
            "refers to 'orders' as a table, but it is a queue",
        ),
    ],
)
def test_an_inconsistent_catalog_names_the_culprit(parts: dict[str, list[object]], culprit: str) -> None:
    # Given a catalog with one contradiction / When it is built / Then the error names it
    with pytest.raises(CatalogError, match="invalid catalog") as error:
        build(**parts)
    assert culprit in str(error.value)


@pytest.mark.parametrize("action", ["s3:*", "*", "dynamodb:Get*", "GetItem"])
def test_a_grant_must_name_exact_actions(action: str) -> None:
    # Given a grant with a wildcard or malformed action / When it is declared / Then it is refused
    with pytest.raises(ValidationError, match="exact 'service:Operation'"):
        Grant(actions=(action,), resource=ResourceRef(kind=ResourceKind.TABLE, name="orders"))


def test_a_grant_without_a_resource_is_refused() -> None:
    with pytest.raises(ValidationError, match="resource"):
        Grant.model_validate({"actions": ["dynamodb:GetItem"]})


def test_declared_secrets_imply_their_grant() -> None:
    # Given the payment tool declaring the payment_api_key secret
    refund = CATALOG.tools["refund_payment"]
    # Then its grants include exactly GetSecretValue on that secret, derived, not hand-written
    assert [(g.actions, g.resource.name) for g in refund.all_grants()] == [
        (("secretsmanager:GetSecretValue",), "payment_api_key")
    ]


@pytest.mark.attack("ASI05")
def test_unknown_workflow_and_agent_lookups_fail_closed() -> None:
    with pytest.raises(CatalogError, match="unknown workflow 'nope'"):
        CATALOG.workflow("nope")
    with pytest.raises(CatalogError, match="unknown agent 'ghost'"):
        CATALOG.agent("ghost")


class FreeText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str
    note: str = ""


def test_trusting_a_free_text_input_key_is_refused() -> None:
    # Given an input whose order_id is any string (no pattern, no enum) / When the workflow trusts it
    wf = workflow().model_copy(update={"input_model": FreeText, "trusted_input_keys": ("order_id",)})
    # Then the catalog refuses to load: only constrained values may be trusted
    with pytest.raises(CatalogError, match="trusts input key 'order_id', which its model leaves free text"):
        build(workflows=[wf])


def test_trusting_a_constrained_input_key_is_accepted() -> None:
    class Constrained(BaseModel):
        model_config = ConfigDict(extra="forbid")

        order_id: str = Field(pattern=r"^ORD-\d+$")
        count: int = 1

    wf = workflow().model_copy(update={"input_model": Constrained, "trusted_input_keys": ("order_id", "count")})
    build(workflows=[wf])


@pytest.mark.attack("ASI06")
def test_tool_output_is_untrusted_unless_declared() -> None:
    assert tool().output_trusted is False
    assert tool(output_trusted=True).output_trusted is True


def test_a_pure_logic_agent_may_declare_no_tools() -> None:
    catalog = build(agents=[agent(tools=())])
    assert catalog.agents["lookup"].tools == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["Refund", "refund_flow", "re fund", "-refund", "r" * 41])
def test_workflow_names_are_lowercase_letters_digits_and_hyphens(name: str) -> None:
    with pytest.raises(ValidationError):
        WorkflowSpec.model_validate(workflow().model_dump() | {"name": name})


def test_merging_catalogs_accepts_the_same_declaration_twice_and_refuses_a_conflicting_one() -> None:
    from baton.catalog import Catalog

    first = build()
    merged = Catalog.merge(first, first)  # type: ignore[arg-type]
    assert set(merged.agents) == {"lookup"}
    conflicting = build(tools=[tool(description="another tool of the same name")])
    with pytest.raises(CatalogError, match="tool 'get_order' is declared differently by two catalogs"):
        Catalog.merge(first, conflicting)  # type: ignore[arg-type]
