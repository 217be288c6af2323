"""The compliance-review app's synthesized template: each agent's role is what its catalog declares, and no more.

The extraction agent may read one item of the document store and nothing else; the publishing agent may put an
item into the reports table and nothing else (it cannot read what it publishes, nor the documents); the
classification and reporting agents, pure logic, hold no statement on any resource at all. Each role is compared,
statement by statement, with what baton.iam derives from the catalog, rendered with the same stack's ARNs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.iam import agent_role
from baton.rule_of_two import classify_all
from baton.testing.cloudformation import Synthesized, synthesize
from compliance_review_app.catalog import CATALOG, WORKFLOW
from compliance_review_app.names import DOCUMENTS, REPORTS
from tests.infra.helpers import expected_statements, function_role, functions_by_env, role_statements

LOGS_AND_TRACES = {"WriteOwnLogs", "Tracing"}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("compliance_review_app.catalog:CATALOG", Path(tmp_path_factory.mktemp("compliance.cdk.out")))


def role_ids(synthesized: Synthesized) -> dict[str, str]:
    """The logical id of each agent's role in the template, found through its function (BATON_AGENT names it)."""
    template = synthesized.template
    return {agent: function_role(template, f) for agent, f in functions_by_env(template, "BATON_AGENT").items()}


def agent_roles(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    resources = synthesized.template["Resources"]
    return {agent: resources[role_id] for agent, role_id in role_ids(synthesized).items()}


def statements(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in role_statements(role)}


def derived(synthesized: Synthesized, agent: str) -> dict[str, dict[str, Any]]:
    """What baton.iam derives for the agent's role, with the ARNs of the synthesized stack's own constructs."""
    return {s["Sid"]: s for s in expected_statements(synthesized, agent_role(CATALOG, CATALOG.agent(agent)))}


def table_arn(synthesized: Synthesized, name: str) -> Any:
    return synthesized.resolve(synthesized.stack.resources.tables[name].table_arn)


def test_each_agents_role_holds_exactly_the_statements_its_catalog_derives(synthesized: Synthesized) -> None:
    # Given the app synthesized as `cdk synth` would / When each agent's role is read from the template
    roles = agent_roles(synthesized)
    # Then there is one role per agent of the workflow, each its own, and nothing is attached to any
    assert set(roles) == set(WORKFLOW.agents)
    assert len(set(role_ids(synthesized).values())) == len(roles)
    for agent, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], agent
        # and each holds exactly the statements derived from its tools, plus its own logs and traces
        assert statements(role) == derived(synthesized, agent), agent
    # and nothing outside the roles adds statements to them
    assert synthesized.resources("AWS::IAM::Policy") == {}
    assert synthesized.resources("AWS::IAM::ManagedPolicy") == {}


def test_only_extraction_reads_the_documents_and_only_publishing_writes_the_reports(synthesized: Synthesized) -> None:
    roles = {agent: statements(role) for agent, role in agent_roles(synthesized).items()}
    tools_of = {agent: {k: s for k, s in held.items() if k not in LOGS_AND_TRACES} for agent, held in roles.items()}
    # the extraction agent: dynamodb:GetItem on the document store, nothing else
    assert [(s["Action"], s["Resource"]) for s in tools_of["extraction"].values()] == [
        (["dynamodb:GetItem"], [table_arn(synthesized, DOCUMENTS)])
    ]
    # the publishing agent: dynamodb:PutItem on the reports table, nothing else (no read of any table)
    assert [(s["Action"], s["Resource"]) for s in tools_of["publishing"].values()] == [
        (["dynamodb:PutItem"], [table_arn(synthesized, REPORTS)])
    ]
    # the pure-logic agents: no statement on any resource at all
    assert tools_of["classification"] == {}
    assert tools_of["reporting"] == {}
    # and no agent's role names the other agents' tables
    documents, reports = table_arn(synthesized, DOCUMENTS), table_arn(synthesized, REPORTS)
    for agent, held in tools_of.items():
        named = [r for s in held.values() for r in s["Resource"]]
        assert (documents in named) == (agent == "extraction"), agent
        assert (reports in named) == (agent == "publishing"), agent


def test_no_agent_combines_untrusted_input_sensitive_data_and_a_write() -> None:
    # the Rule of Two, from the catalog: the one agent reading the (sensitive, untrusted) documents changes nothing,
    # the one that writes reads nothing, and the two in between have no tools
    classes = {name: verdict.classes for name, verdict in classify_all(CATALOG).items()}
    assert classes == {"extraction": "AB", "classification": "A", "reporting": "A", "publishing": "AC"}
