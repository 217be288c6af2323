"""The threat-intel app's synthesized template: each agent's role is what its catalog declares, and no more.

The feed agents reach the world only through HTTP, each to its own feed's host (an egress allowlist enforced by
Baton's egress client, not IAM): so their roles hold no statement on any AWS resource, only their own logs and
traces. The report agent, pure logic, holds none either. Each role is compared, statement by statement, with what
baton.iam derives from the catalog, rendered with the same stack's ARNs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.iam import agent_role
from baton.rule_of_two import classify_all
from baton.testing.cloudformation import Synthesized, synthesize
from tests.infra.helpers import expected_statements, function_role, functions_by_env, role_statements
from threat_intel_app.catalog import CATALOG, WORKFLOW
from threat_intel_app.names import FEED_HOSTS
from threat_intel_app.planner import FEEDS

LOGS_AND_TRACES = {"WriteOwnLogs", "Tracing"}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("threat_intel_app.catalog:CATALOG", Path(tmp_path_factory.mktemp("threat-intel.cdk.out")))


def role_ids(synthesized: Synthesized) -> dict[str, str]:
    """The logical id of each agent's role in the template, found through its function (BATON_AGENT names it)."""
    template = synthesized.template
    return {agent: function_role(template, f) for agent, f in functions_by_env(template, "BATON_AGENT").items()}


def statements(synthesized: Synthesized, agent: str) -> dict[str, dict[str, Any]]:
    role = synthesized.template["Resources"][role_ids(synthesized)[agent]]
    return {s["Sid"]: s for s in role_statements(role)}


def derived(synthesized: Synthesized, agent: str) -> dict[str, dict[str, Any]]:
    """What baton.iam derives for the agent's role, with the ARNs of the synthesized stack's own constructs."""
    return {s["Sid"]: s for s in expected_statements(synthesized, agent_role(CATALOG, CATALOG.agent(agent)))}


def test_each_agents_role_holds_exactly_the_statements_its_catalog_derives(synthesized: Synthesized) -> None:
    # Given the app synthesized as `cdk synth` would / When each agent's role is read from the template
    ids = role_ids(synthesized)
    # Then there is one role per agent of the workflow, each its own, and nothing is attached to any
    assert set(ids) == set(WORKFLOW.agents)
    assert len(set(ids.values())) == len(ids)
    for agent, role_id in ids.items():
        role = synthesized.template["Resources"][role_id]
        assert "ManagedPolicyArns" not in role["Properties"], agent
        assert statements(synthesized, agent) == derived(synthesized, agent), agent
    # and nothing outside the roles adds statements to them
    assert synthesized.resources("AWS::IAM::Policy") == {}
    assert synthesized.resources("AWS::IAM::ManagedPolicy") == {}


def test_no_agent_holds_a_wildcard_action_or_a_statement_without_a_declared_tool(synthesized: Synthesized) -> None:
    for agent in WORKFLOW.agents:
        held = statements(synthesized, agent)
        for sid, statement in held.items():
            assert all("*" not in action for action in statement["Action"]), (agent, sid)
        # beyond its own logs and traces, a statement exists only for a tool the agent declares: these agents'
        # tools are HTTP only, so there is none
        assert set(held) == LOGS_AND_TRACES, agent


def test_each_feed_agent_reaches_only_its_own_feed() -> None:
    for feed in FEEDS:
        agent = CATALOG.agent(feed)
        assert agent.tools == (f"query_{feed}",)
        assert CATALOG.tools[f"query_{feed}"].egress == (FEED_HOSTS[feed],)
        assert CATALOG.tools[f"query_{feed}"].output_trusted is False
    # three hosts, one per feed: no feed agent may reach another's
    assert len({CATALOG.tools[f"query_{feed}"].egress for feed in FEEDS}) == 3
    assert CATALOG.agent("report").tools == ()


def test_no_agent_combines_untrusted_input_sensitive_data_and_a_write() -> None:
    # the Rule of Two, from the catalog: each feed agent reads untrusted data and communicates out (its one feed
    # host) but holds no sensitive data; the report agent has no tools at all
    classes = {name: verdict.classes for name, verdict in classify_all(CATALOG).items()}
    assert classes == {"feed_a": "AC", "feed_b": "AC", "feed_c": "AC", "report": "-"}
