"""The security-alerting app's IAM, as baton.iam derives it from the catalog: no role holds a wildcard action or a
statement without a declared tool or function behind it; each subscriber's starter may consume only its own queue,
request only its own workflow's runs and start only its own state machine; only the detector may publish. And
`baton graph` draws the event rules between the publisher and its subscribers.
"""

from __future__ import annotations

from baton import keys
from baton.catalog import ResourceKind, ResourceRef
from baton.graph import mermaid
from baton.iam import Component, Platform, PlatformRef, agent_role, all_roles, starter_role
from security_alerting_app.catalog import CATALOG
from security_alerting_app.names import BUS

SUBSCRIBERS = ("alert-enrichment", "alert-notification")
PLATFORM_SIDS = {"WriteOwnLogs", "Tracing"}


def test_every_role_is_derived_and_holds_no_wildcard_action() -> None:
    roles = all_roles(CATALOG)
    # one starter per subscribing workflow, none for the publisher
    assert sorted(r.name for r in roles if r.component is Component.STARTER) == sorted(SUBSCRIBERS)
    for role in roles:
        for statement in role.statements:
            assert not any("*" in action for action in statement.actions), (role.name, statement.sid)
            wildcard = any(isinstance(r, PlatformRef) and r.kind is Platform.ANY for r in statement.resources)
            assert wildcard == (statement.wildcard_reason is not None), (role.name, statement.sid)


def test_each_agents_tool_statements_come_from_its_declared_tools() -> None:
    for agent in CATALOG.agents.values():
        declared = {(g.actions, g.resource) for tool in CATALOG.tools_of(agent) for g in tool.all_grants()}
        held = {
            (s.actions, s.resources[0]) for s in agent_role(CATALOG, agent).statements if s.sid not in PLATFORM_SIDS
        }
        assert held == declared, agent.name
    # only the detector may put events on the findings bus
    bus = ResourceRef(kind=ResourceKind.EVENT_BUS, name=BUS)
    publishers = [
        a.name for a in CATALOG.agents.values() if any(bus in s.resources for s in agent_role(CATALOG, a).statements)
    ]
    assert publishers == ["detector"]


def test_each_starter_reaches_only_its_own_workflow() -> None:
    for workflow in SUBSCRIBERS:
        role = starter_role(CATALOG.workflow(workflow))
        by_sid = {s.sid: s for s in role.statements}
        assert set(by_sid) == {"ConsumeTriggerQueue", "RequestRuns", "StartRuns"} | PLATFORM_SIDS
        assert by_sid["ConsumeTriggerQueue"].resources == (PlatformRef(kind=Platform.TRIGGER_QUEUE, name=workflow),)
        assert "sqs:SendMessage" not in by_sid["ConsumeTriggerQueue"].actions
        assert by_sid["RequestRuns"].actions == ("dynamodb:PutItem",)
        assert by_sid["RequestRuns"].conditions == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": (keys.start_items(workflow),)}
        }
        assert by_sid["StartRuns"].resources == (PlatformRef(kind=Platform.STATE_MACHINE, name=workflow),)


def test_the_graph_draws_the_event_rules_from_the_publisher_to_its_subscribers() -> None:
    drawn = mermaid(CATALOG, "security-alerting")
    assert "event_bus_security_findings -->|" in drawn
    for workflow in SUBSCRIBERS:
        rule = "rule_" + workflow.replace("-", "_")
        assert f'event_bus_security_findings -->|"matching events"| {rule}' in drawn
        assert f"| subscriber_{workflow.replace('-', '_')}" in drawn
    # a subscriber's own graph shows the rule that starts it, and nothing of the other subscriber
    notification = mermaid(CATALOG, "alert-notification")
    assert "rule_alert_notification" in notification
    assert "alert_enrichment" not in notification
