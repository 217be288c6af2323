"""An agent function loads what its own agent needs and nothing more, and still refuses what it does not serve."""

from __future__ import annotations

import boto3
import pytest
from pydantic import ValidationError

from baton.aws import AwsClients
from baton.catalog import CatalogError, PeerTrust
from baton.runtime import build_agent_runner
from baton.settings import ENV_AGENT, ENV_CATALOG, ENV_STATE_TABLE
from tests.unit.fresh_process import modules_after

REFUND_CATALOG = "refund_app.catalog:CATALOG"
PRINCIPAL = "arn:aws:iam::123456789012:role/peer"


def agent_env(agent: str) -> dict[str, str]:
    return {ENV_STATE_TABLE: "state", ENV_CATALOG: REFUND_CATALOG, ENV_AGENT: agent}


def modules_after_building(agent: str) -> set[str]:
    """The modules a fresh process holds once it has built `agent`'s runner (as its first invocation does)."""
    return modules_after(
        "import boto3\n"
        "from baton.aws import AwsClients\n"
        "from baton.runtime import build_agent_runner\n"
        f"build_agent_runner({agent_env(agent)!r}, AwsClients(boto3.Session(region_name='us-east-1')))"
    )


def test_an_agent_without_oauth_or_session_tools_never_loads_the_credentials_broker() -> None:
    # Given order_lookup, whose only tool reads a table with the function's own role
    # When a fresh agent function builds its runner
    loaded = modules_after_building("order_lookup")
    # Then neither the credentials broker, the TOML parser (read by the CLI only), the HTTP client (its tool does not
    # reach out) nor the orchestrator's models (the agent needs a task's only: baton.task_models) was loaded
    assert "baton.agent_runner" in loaded
    assert "baton.task_models" in loaded
    assert "baton.credentials" not in loaded
    assert "tomllib" not in loaded
    assert "baton.http" not in loaded
    assert "baton.models" not in loaded


def test_an_agent_with_an_oauth_tool_loads_the_credentials_broker() -> None:
    # Given payment_reversal, whose tool authenticates with OAuth client credentials
    # When a fresh agent function builds its runner
    loaded = modules_after_building("payment_reversal")
    # Then the credentials broker is there, for the function's one token cache
    assert "baton.credentials" in loaded


def test_an_agent_function_refuses_an_agent_its_catalog_does_not_declare() -> None:
    # Given an agent function configured for an agent the catalog does not declare
    env = agent_env("no_such_agent")
    # When its runner is built, Then the function refuses to start, naming the agent
    with pytest.raises(CatalogError, match="unknown agent 'no_such_agent'"):
        build_agent_runner(env, AwsClients(boto3.Session(region_name="us-east-1")))


@pytest.mark.parametrize("name", ["a", "x" * 64, "peer+reader=1,2.3@team-a_b"])
def test_a_peer_role_name_of_up_to_64_iam_characters_is_accepted(name: str) -> None:
    # Given a role name of 1 to 64 characters, each an ASCII letter, digit or one of IAM's _+=,.@-
    # When a peer trust declares it, Then it is accepted as written
    assert PeerTrust(role_name=name, principals=(PRINCIPAL,), external_id="ext-id").role_name == name


@pytest.mark.parametrize("name", ["", "x" * 65, "peer reader", "peer/reader", "rôle", "role٣"])
def test_a_peer_role_name_too_long_or_with_other_characters_is_refused(name: str) -> None:
    # Given an empty role name, one of 65 characters, or one with a space, a slash, or a non-ASCII letter or digit
    # (IAM refuses those: the declaration fails at load, not at deployment)
    # When a peer trust declares it, Then the declaration is refused
    with pytest.raises(ValidationError, match="role_name"):
        PeerTrust(role_name=name, principals=(PRINCIPAL,), external_id="ext-id")
