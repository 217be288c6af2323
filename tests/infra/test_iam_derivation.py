"""baton.iam on its own (no CDK): what the catalog implies for every role."""

from __future__ import annotations

from typing import Any

from baton.catalog import ResourceKind, ResourceRef
from baton.iam import (
    ANY,
    Component,
    Platform,
    PlatformRef,
    Ref,
    agent_role,
    all_roles,
    render_policy,
    state_machine_role,
)
from refund_app.catalog import CATALOG


def arn(ref: Ref) -> str:
    return f"arn:{ref.kind.value}:{ref.name}"


def test_agent_statements_come_from_its_tools_plus_the_platform_statements() -> None:
    for agent in CATALOG.agents.values():
        # Given an agent
        role = agent_role(CATALOG, agent)
        # When its tool statements are set apart from the platform ones
        tool_statements = [s for s in role.statements if s.sid.startswith("Tool")]
        platform = {s.sid for s in role.statements} - {s.sid for s in tool_statements}
        # Then each of its tools' grants is one statement with exactly its actions, resource and conditions
        grants = [g for t in CATALOG.tools_of(agent) for g in t.all_grants()]
        assert sorted((s.actions, s.resources, s.conditions) for s in tool_statements) == sorted(
            (tuple(sorted(g.actions)), (g.resource,), g.conditions) for g in grants
        )
        assert platform == {"ReadOwnTasks", "AppendOwnJournal", "WriteOwnLogs", "Tracing"}


def test_agents_read_only_their_own_tasks_and_append_only_their_own_journal() -> None:
    role = agent_role(CATALOG, CATALOG.agent("order_lookup"))
    by_sid = {s.sid: s for s in role.statements}
    assert by_sid["ReadOwnTasks"].actions == ("dynamodb:GetItem",)
    assert by_sid["ReadOwnTasks"].conditions == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ("TASK#order_lookup#*",)}
    }
    assert by_sid["AppendOwnJournal"].actions == ("dynamodb:PutItem",)
    assert by_sid["AppendOwnJournal"].conditions == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ("JOURNAL#order_lookup#*",)}
    }


def test_a_declared_secret_becomes_a_get_secret_value_grant_on_that_secret() -> None:
    role = agent_role(CATALOG, CATALOG.agent("payment_reversal"))
    (tool,) = [s for s in role.statements if s.sid.startswith("Tool")]
    assert tool.actions == ("secretsmanager:GetSecretValue",)
    assert tool.resources == (ResourceRef(kind=ResourceKind.SECRET, name="payment_api_key"),)


def test_resource_wildcards_carry_a_reason_and_nothing_else_is_a_wildcard() -> None:
    for role in all_roles(CATALOG):
        for statement in role.statements:
            if ANY in statement.resources:
                assert statement.resources == (ANY,)
                assert statement.wildcard_reason
                assert all(a.startswith(("xray:", "logs:")) for a in statement.actions)
            else:
                assert statement.wildcard_reason is None
            for action in statement.actions:
                assert "*" not in action


def test_state_machine_invokes_exactly_its_workflow_functions() -> None:
    workflow = CATALOG.workflow("refund")
    role = state_machine_role(CATALOG, workflow)
    (invoke,) = [s for s in role.statements if "lambda:InvokeFunction" in s.actions]
    names = {(r.kind, r.name) for r in invoke.resources if isinstance(r, PlatformRef)}
    assert names == {(Platform.ORCHESTRATOR_FUNCTION, "refund")} | {
        (Platform.AGENT_FUNCTION, a) for a in workflow.agents
    }
    assert {r.suffix for r in invoke.resources} == {"", ":*"}


def test_every_component_gets_one_role() -> None:
    roles = all_roles(CATALOG)
    assert sorted((r.component, r.name) for r in roles) == sorted(
        [(Component.AGENT, a) for a in CATALOG.agents]
        + [(Component.ORCHESTRATOR, w) for w in CATALOG.workflows]
        + [(Component.STATE_MACHINE, w) for w in CATALOG.workflows]
        + [(Component.API, "api")]
    )


def test_render_appends_suffixes_and_renders_conditions_as_lists() -> None:
    role = state_machine_role(CATALOG, CATALOG.workflow("refund"))
    policy: dict[str, Any] = render_policy(role, arn)
    invoke = policy["Statement"][0]
    assert "arn:orchestrator_function:refund" in invoke["Resource"]
    assert "arn:orchestrator_function:refund:*" in invoke["Resource"]
    journal = policy["Statement"][1]
    assert journal["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FAILURE#*"]}}
    assert policy["Statement"][2]["Resource"] == ["*"]
