"""The event-driven pattern's infrastructure (baton.triggers, infra/constructs/event_triggers.py), on the
security-alerting app's synthesized template: each subscribing workflow's rule matches its declared pattern on its
declared bus and targets that workflow's own queue; only that rule may send to the queue; the queue redrives to
its dead-letter queue; the workflow's starter consumes it with partial batch responses, under a role holding
exactly what baton.iam.starter_role derives; and the detection agent may put events on the bus, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnElement

from baton.catalog import ResourceKind, ResourceRef
from baton.iam import Platform, PlatformRef, Ref, agent_role, render_statement, starter_role
from baton.testing.cloudformation import Synthesized, synthesize
from security_alerting_app.catalog import CATALOG
from security_alerting_app.names import BUS

SUBSCRIBERS = ("alert-enrichment", "alert-notification")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("security_alerting_app.catalog:CATALOG", Path(tmp_path_factory.mktemp("alerting.cdk.out")))


def _id(synthesized: Synthesized, construct: Any) -> str:
    if isinstance(construct, CfnElement):  # the rule is an L1 construct
        return str(synthesized.stack.get_logical_id(construct))
    return synthesized.logical_id(construct)


def _arn(synthesized: Synthesized, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [_id(synthesized, construct), "Arn"]}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _normalized(statement: dict[str, Any]) -> dict[str, Any]:
    return {**statement, "Action": sorted(_listed(statement["Action"])), "Resource": _listed(statement["Resource"])}


def test_each_trigger_rule_matches_its_declared_pattern_on_its_bus_and_targets_its_workflows_queue(
    synthesized: Synthesized,
) -> None:
    stack = synthesized.stack
    rules = synthesized.resources("AWS::Events::Rule")
    bus = {"Ref": synthesized.logical_id(stack.resources.event_buses[BUS])}
    assert set(stack.triggers) == set(SUBSCRIBERS)  # the detection workflow subscribes to nothing
    for workflow, trigger in stack.triggers.items():
        rule = rules[_id(synthesized, trigger.rule)]["Properties"]
        assert rule["EventBusName"] == bus
        assert rule["EventPattern"] == CATALOG.workflow(workflow).triggers[0].pattern
        (target,) = rule["Targets"]
        assert target["Arn"] == _arn(synthesized, trigger.queue)
        assert target["DeadLetterConfig"]["Arn"] == _arn(synthesized, trigger.dead_letters)


def test_only_its_trigger_rule_may_send_to_a_workflows_queue(synthesized: Synthesized) -> None:
    policies = synthesized.resources("AWS::SQS::QueuePolicy").values()
    for trigger in synthesized.stack.triggers.values():
        for queue in (trigger.queue, trigger.dead_letters):
            (policy,) = [p for p in policies if p["Properties"]["Queues"] == [{"Ref": synthesized.logical_id(queue)}]]
            allowed = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
            assert allowed == [
                {
                    "Sid": "OnlyTheTriggerRuleSends",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": _arn(synthesized, queue),
                    "Condition": {"ArnEquals": {"aws:SourceArn": _arn(synthesized, trigger.rule)}},
                }
            ]


def test_each_trigger_queue_redrives_to_its_dead_letter_queue(synthesized: Synthesized) -> None:
    queues = synthesized.resources("AWS::SQS::Queue")
    for workflow, trigger in synthesized.stack.triggers.items():
        queue = queues[synthesized.logical_id(trigger.queue)]["Properties"]
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": _arn(synthesized, trigger.dead_letters),
            "maxReceiveCount": CATALOG.workflow(workflow).triggers[0].max_receive_count,
        }
        assert queue["SqsManagedSseEnabled"] is True


def test_each_starter_consumes_its_own_queue_with_partial_batch_responses(synthesized: Synthesized) -> None:
    mappings = list(synthesized.resources("AWS::Lambda::EventSourceMapping").values())
    functions = synthesized.resources("AWS::Lambda::Function")
    for workflow, trigger in synthesized.stack.triggers.items():
        function_id = synthesized.logical_id(trigger.starter.function)
        (mapping,) = [m["Properties"] for m in mappings if m["Properties"]["FunctionName"] == {"Ref": function_id}]
        assert mapping["EventSourceArn"] == _arn(synthesized, trigger.queue)
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        function = functions[function_id]["Properties"]
        assert function["Handler"] == "baton.functions.starter.handler.handler"
        assert function["Environment"]["Variables"]["BATON_WORKFLOW"] == workflow


def test_each_starters_role_holds_exactly_what_baton_iam_derives(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    roles = synthesized.resources("AWS::IAM::Role")
    for workflow, trigger in stack.triggers.items():

        def resolve(ref: Ref, trigger: Any = trigger) -> Any:
            if isinstance(ref, PlatformRef) and ref.kind is Platform.TRIGGER_QUEUE:
                return trigger.queue.queue_arn
            if isinstance(ref, PlatformRef) and ref.kind is Platform.OWN_LOG_GROUP:
                return trigger.starter.log_group.log_group_arn
            return stack.resolve_ref(ref)

        spec = starter_role(CATALOG.workflow(workflow))
        derived = [_normalized(synthesized.resolve(render_statement(s, resolve))) for s in spec.statements]
        role_id = synthesized.logical_id(trigger.starter.derived_role.resource)
        held = [
            _normalized(s) for p in roles[role_id]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
        ]
        assert sorted(held, key=lambda s: s["Sid"]) == sorted(derived, key=lambda s: s["Sid"])
        # no wildcard action; the only "*" resource is X-Ray's (AWS offers no resource for it)
        for statement in held:
            assert not any("*" in action for action in statement["Action"]), statement
            if statement["Resource"] == ["*"]:
                assert statement["Sid"] == "Tracing"


def test_the_detector_may_put_events_on_the_findings_bus_and_nothing_else(synthesized: Synthesized) -> None:
    spec = agent_role(CATALOG, CATALOG.agent("detector"))
    tools = [s for s in spec.statements if s.sid not in {"WriteOwnLogs", "Tracing"}]
    assert [(s.actions, s.resources) for s in tools] == [
        (("events:PutEvents",), (ResourceRef(kind=ResourceKind.EVENT_BUS, name=BUS),))
    ]
    bus_arn = synthesized.resolve(synthesized.stack.resources.event_buses[BUS].event_bus_arn)
    roles = synthesized.resources("AWS::IAM::Role")
    role_id = synthesized.logical_id(synthesized.stack.agents["detector"].derived_role.resource)
    put = [
        s
        for p in roles[role_id]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if "events:PutEvents" in _listed(s["Action"])
    ]
    assert [s["Resource"] for s in put] == [bus_arn]
