"""An agent function loads what its own agent needs and nothing more, and still refuses what it does not serve."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from baton.aws import AwsClients
from baton.catalog import (
    AgentSpec,
    CatalogError,
    Grant,
    PeerTrust,
    ResourceKind,
    ResourceRef,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
    cross_checked_at_synthesis,
)
from baton.runtime import build_agent_runner
from baton.settings import ENV_AGENT, ENV_CATALOG, ENV_STATE_TABLE

REFUND_CATALOG = "refund_app.catalog:CATALOG"
PRINCIPAL = "arn:aws:iam::123456789012:role/peer"
DEPLOYED = {"AWS_LAMBDA_FUNCTION_NAME": "baton-agent-test"}  # what Lambda sets in every function


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str


class Lenient(BaseModel):
    order_id: str


def a_tool(name: str, arguments: type[BaseModel] = Strict, table: str = "orders") -> ToolSpec:
    grant = Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=table))
    return ToolSpec(
        name=name,
        description="reads an order",
        implementation="refund_app.tools:get_order",
        arguments=arguments,
        side_effect=SideEffect.READ,
        grants=(grant,),
    )


def an_agent(name: str, tool: str) -> AgentSpec:
    return AgentSpec(
        name=name,
        description="looks an order up",
        implementation="refund_app.agents:order_lookup",
        input_model=Strict,
        output_model=Strict,
        tools=(tool,),
    )


def broken_catalog() -> object:
    """Agents each with a fault build_catalog's cross-checks refuse: a tool nobody declared, a tool granted a table
    nobody declared, a tool whose arguments allow extra fields; and a workflow of an agent nobody declared."""
    return build_catalog(
        resources=[],
        tools=[a_tool("read_undeclared_table", table="missing_table"), a_tool("take_anything", arguments=Lenient)],
        agents=[
            an_agent("uses_missing_tool", "missing_tool"),
            an_agent("reads_missing_table", "read_undeclared_table"),
            an_agent("takes_anything", "take_anything"),
        ],
        workflows=[
            WorkflowSpec(
                name="wf",
                description="-",
                input_model=Strict,
                planner="refund_app.planner:RefundPlanner",
                agents=("x",),
            )
        ],
    )


# as a deployed function loads it: assembled without the cross-checks, which would refuse it
with cross_checked_at_synthesis():
    UNCHECKED = broken_catalog()


def agent_env(agent: str, catalog: str = REFUND_CATALOG) -> dict[str, str]:
    return {ENV_STATE_TABLE: "state", ENV_CATALOG: catalog, ENV_AGENT: agent}


def modules_after_building(agent: str, extra_env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh process holds once it has built `agent`'s runner (as its first invocation does)."""
    env = {**agent_env(agent), **(extra_env or {})}
    code = (
        "import json, sys, boto3\n"
        "from baton.aws import AwsClients\n"
        "from baton.runtime import build_agent_runner\n"
        f"build_agent_runner({env!r}, AwsClients(boto3.Session(region_name='us-east-1')))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603 (this test's code)
    return set(json.loads(done.stdout))


def test_an_agent_without_oauth_or_session_tools_never_loads_the_credentials_broker() -> None:
    # Given order_lookup, whose only tool reads a table with the function's own role
    # When a fresh agent function builds its runner
    loaded = modules_after_building("order_lookup")
    # Then neither the credentials broker nor the TOML parser (read by the CLI only) was loaded
    assert "baton.agent_runner" in loaded
    assert "baton.credentials" not in loaded
    assert "tomllib" not in loaded


def test_an_agent_with_an_oauth_tool_loads_the_credentials_broker() -> None:
    # Given payment_reversal, whose tool authenticates with OAuth client credentials
    # When a fresh agent function builds its runner
    loaded = modules_after_building("payment_reversal")
    # Then the credentials broker is there, for the function's one token cache
    assert "baton.credentials" in loaded


def test_a_deployed_agent_function_does_not_cross_check_the_whole_catalog_again() -> None:
    # Given the refund catalog, whose cross-checks (the Rule of Two and the policies among them) ran at synthesis
    # When a fresh agent function builds its runner deployed, and the offline engine's builds it
    deployed = modules_after_building("order_lookup", DEPLOYED)
    offline = modules_after_building("order_lookup")
    # Then only the offline one ran them again
    assert "baton.rule_of_two" not in deployed
    assert "baton.rule_of_two" in offline


def test_within_cross_checked_at_synthesis_a_catalog_assembles_without_its_cross_checks() -> None:
    # Given declarations that contradict each other, When they are built as usual, Then the catalog refuses them
    with pytest.raises(CatalogError, match="uses unknown tool 'missing_tool'"):
        broken_catalog()
    # When a deployed function builds them, Then they are assembled as declared
    with cross_checked_at_synthesis():
        assert set(broken_catalog().agents) == {"uses_missing_tool", "reads_missing_table", "takes_anything"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("extra_env", [{}, DEPLOYED], ids=["offline", "deployed"])
def test_an_agent_function_refuses_an_agent_its_catalog_does_not_declare(extra_env: dict[str, str]) -> None:
    # Given an agent function configured for an agent the catalog does not declare
    env = {**agent_env("no_such_agent", f"{__name__}:UNCHECKED"), **extra_env}
    # When its runner is built, Then the function refuses to start, naming the agent
    with pytest.raises(CatalogError, match="unknown agent 'no_such_agent'"):
        build_agent_runner(env, AwsClients(boto3.Session(region_name="us-east-1")))


@pytest.mark.parametrize(
    ("agent", "culprit"),
    [
        ("uses_missing_tool", "agent 'uses_missing_tool' uses unknown tool 'missing_tool'"),
        ("reads_missing_table", "tool 'read_undeclared_table' grants access to undeclared resource 'missing_table'"),
        ("takes_anything", "tool 'take_anything' arguments Lenient must forbid extra fields"),
    ],
)
def test_a_deployed_agent_function_still_refuses_its_own_agents_faults(agent: str, culprit: str) -> None:
    # Given a deployed function of an agent whose own declarations the cross-checks would refuse
    env = {**agent_env(agent, f"{__name__}:UNCHECKED"), **DEPLOYED}
    # When its runner is built, Then the function refuses to start, naming the culprit
    with pytest.raises(CatalogError, match=culprit):
        build_agent_runner(env, AwsClients(boto3.Session(region_name="us-east-1")))


@pytest.mark.parametrize("name", ["a", "x" * 64, "peer+reader=1,2.3@team-a_b", "rôle"])
def test_a_peer_role_name_of_up_to_64_word_or_iam_characters_is_accepted(name: str) -> None:
    # Given a role name of 1 to 64 characters, each a word character or one of IAM's +=,.@-
    # When a peer trust declares it, Then it is accepted as written
    assert PeerTrust(role_name=name, principals=(PRINCIPAL,), external_id="ext-id").role_name == name


@pytest.mark.parametrize("name", ["", "x" * 65, "peer reader", "peer/reader"])
def test_a_peer_role_name_too_long_or_with_other_characters_is_refused(name: str) -> None:
    # Given an empty role name, one of 65 characters, or one with a space or a slash
    # When a peer trust declares it, Then the declaration is refused
    with pytest.raises(ValidationError, match="role_name"):
        PeerTrust(role_name=name, principals=(PRINCIPAL,), external_id="ext-id")
