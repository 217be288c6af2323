"""Human approval in the synthesized template (CDK's Template assertions), for the approval test app
(tests.testapp.approvals): every statement the approvals imply is derived from their declaration, and nothing more.

What is proven: the orchestrator of a workflow with approvals may send to exactly its declared queue and write its
APPROVAL# items; the API may decide approvals (PutItem on APPROVAL# of those workflows only) and resume runs
(states:SendTaskSuccess, which IAM gives no resource type: the one wildcard, acknowledged with its reason); the API
route is IAM-authorized with a request model; a Standard workflow's state machine waits on a task token with the
timeout its orchestrator computes; the test app (no approvals) derives none of it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from baton.iam import SEND_TASK_REASON, Component, api_role, orchestrator_role
from baton.statemachine import definition_text
from baton.testing.cloudformation import Synthesized, synthesize
from tests.infra.helpers import concrete, derived_roles, role_statements
from tests.testapp import approvals as app


@pytest.fixture(scope="module")
def approving(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The approval test app, synthesized as `cdk synth` would (cdk-nag runs during synthesis)."""
    return synthesize("tests.testapp.approvals:CATALOG", tmp_path_factory.mktemp("cdk.out.approvals"))


def _statement(sid: str, action: Any) -> Any:
    return Match.object_like(
        {
            "Policies": Match.array_with(
                [
                    Match.object_like(
                        {
                            "PolicyDocument": Match.object_like(
                                {"Statement": Match.array_with([Match.object_like({"Sid": sid, "Action": action})])}
                            )
                        }
                    )
                ]
            )
        }
    )


def _role(synthesized: Synthesized, component: Component, name: str) -> dict[str, dict[str, Any]]:
    roles = {(spec.component, spec.name): role_id for spec, role_id in derived_roles(synthesized)}
    resource = synthesized.template["Resources"][roles[(component, name)]]
    # the statements of interest made concrete (a function's own log group has no ARN format here: left as is)
    return {
        s["Sid"]: s if s["Sid"] == "WriteOwnLogs" else concrete(synthesized.template, s)
        for s in role_statements(resource)
    }


def test_the_orchestrator_may_notify_exactly_the_declared_queue_and_keep_its_approvals(
    approving: Synthesized,
) -> None:
    """Given the approve workflow, whose approvals notify the approval_requests queue
    Then its orchestrator's role holds sqs:SendMessage on that queue alone, and its approvals' items (APPROVAL#) among
    the keys it reads and writes; the workflow without approvals holds neither."""
    template = Template.from_json(approving.template)
    template.has_resource_properties("AWS::IAM::Role", _statement("NotifyApprovers", "sqs:SendMessage"))
    approve = _role(approving, Component.ORCHESTRATOR, "approve")
    queue = approving.logical_id(approving.stack.resources.queues["approval_requests"])
    assert approving.template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    assert approve["NotifyApprovers"]["Resource"] == [f"arn:aws:sqs:us-east-1:123456789012:{queue}"]
    leading = approve["WriteRuns"]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert "APPROVAL#approve_*" in leading
    none = _role(approving, Component.ORCHESTRATOR, "approve-none")
    assert "NotifyApprovers" not in none
    assert not any("APPROVAL#" in json.dumps(statement) for statement in none.values())


def test_the_api_may_decide_approvals_of_the_workflows_that_declare_them_and_resume_their_runs(
    approving: Synthesized,
) -> None:
    """Given workflows with approvals (approve, approve-planned) and one without (approve-none)
    Then the API's role may PutItem only APPROVAL# items of the first two, and call states:SendTaskSuccess (no
    resource type exists for it: the wildcard carries its reason; cdk-nag reports nothing unacknowledged)."""
    template = Template.from_json(approving.template)
    template.has_resource_properties("AWS::IAM::Role", _statement("ResumeRuns", "states:SendTaskSuccess"))
    api = _role(approving, Component.API, "api")
    decide = api["DecideApprovals"]
    assert decide["Action"] == ["dynamodb:PutItem"]
    assert sorted(decide["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]) == [
        "APPROVAL#approve-planned_*",
        "APPROVAL#approve_*",
    ]
    assert (api["ResumeRuns"]["Action"], api["ResumeRuns"]["Resource"]) == (["states:SendTaskSuccess"], ["*"])
    assert "states:SendTaskFailure" not in json.dumps(api)  # a rejection resumes the run too: success only
    spec = next(s for s in api_role(approving.catalog).statements if s.sid == "ResumeRuns")
    assert spec.wildcard_reason == SEND_TASK_REASON
    report = json.loads((approving.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []  # cdk-nag: nothing unacknowledged (the wildcard is, with its reason)


def test_the_approvals_route_is_iam_authorized_and_validates_its_body(approving: Synthesized) -> None:
    """Then POST /runs/{run_id}/approvals exists, with AWS_IAM authorization and the ApprovalDecision model
    (decision approve|reject, extra fields refused)."""
    template = Template.from_json(approving.template)
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "approvals"})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestModels": {"application/json": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "Name": "ApprovalDecision",
            "Schema": Match.object_like(
                {
                    "additionalProperties": False,
                    "required": ["decision"],
                    "properties": Match.object_like({"decision": {"type": "string", "enum": ["approve", "reject"]}}),
                }
            ),
        },
    )


def test_a_standard_state_machine_waits_on_a_task_token_whose_timeout_the_orchestrator_sets() -> None:
    """Then the definition's AwaitApproval state invokes the orchestrator with $$.Task.Token, times out after the
    orchestrator's wait_seconds, and goes back to Plan on a timeout; an Express definition has no such state."""
    standard = json.loads(definition_text("standard"))["States"]
    wait = standard["AwaitApproval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["TimeoutSecondsPath"] == "$.wait_seconds"
    timeout = next(c for c in wait["Catch"] if "States.Timeout" in c["ErrorEquals"])
    assert timeout["Next"] == "Plan"
    assert wait["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "CloseFailedRun"}
    express = json.loads(definition_text("express"))["States"]
    assert "AwaitApproval" not in express
    assert "waitForTaskToken" not in json.dumps(express)


def test_a_catalog_without_approvals_derives_no_approval_permission() -> None:
    """Given the test app (no workflow declares approvals) / Then no role may touch APPROVAL# or resume runs."""
    from tests.testapp.catalog import CATALOG

    specs = [api_role(CATALOG), *(orchestrator_role(CATALOG, w) for w in CATALOG.workflows.values())]
    rendered = json.dumps([s.model_dump(mode="json") for s in specs])
    assert "APPROVAL#" not in rendered
    assert "SendTaskSuccess" not in rendered
    assert "NotifyApprovers" not in rendered
    assert app.CATALOG.workflows["approve"].approvals is not None
