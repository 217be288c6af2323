"""Every role holds exactly the statements derived from the catalog, and wildcards only where AWS needs them."""

from __future__ import annotations

from typing import Any

import pytest

from baton.catalog import ResourceKind, ResourceRef
from baton.iam import Platform, PlatformRef, Ref, RoleSpec, agent_role, api_role, orchestrator_role, render_statement
from baton.iam import state_machine_role as derive_state_machine_role
from refund_app.catalog import CATALOG
from tests.infra.conftest import Synthesized
from tests.infra.helpers import (
    all_policy_statements,
    as_list,
    function_role,
    functions_by_env,
    normalized,
    role_statements,
)

# Resource "*" is allowed only for these actions, each because AWS offers no resource-level permission:
ALLOWED_WILDCARD_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray has no resource ARNs (Lambda and Step Functions active tracing)",
    "xray:PutTelemetryRecords": "X-Ray has no resource ARNs (Lambda and Step Functions active tracing)",
    "xray:GetSamplingRules": "X-Ray sampling rules are account-wide (Step Functions tracing)",
    "xray:GetSamplingTargets": "X-Ray sampling targets are account-wide (Step Functions tracing)",
    "logs:CreateLogDelivery": "Step Functions log delivery: vended-log APIs support no resource-level permissions",
    "logs:GetLogDelivery": "Step Functions log delivery: vended-log APIs support no resource-level permissions",
    "logs:UpdateLogDelivery": "Step Functions log delivery: vended-log APIs support no resource-level permissions",
    "logs:DeleteLogDelivery": "Step Functions log delivery: vended-log APIs support no resource-level permissions",
    "logs:ListLogDeliveries": "Step Functions log delivery: vended-log APIs support no resource-level permissions",
    "logs:PutResourcePolicy": "Step Functions log delivery writes the log group's resource policy (account-wide API)",
    "logs:DescribeResourcePolicies": "Step Functions log delivery reads resource policies (account-wide API)",
    "logs:DescribeLogGroups": "Step Functions log delivery checks the log group exists (list API, no resource)",
}
# the only managed policy: API Gateway's account-level role for writing execution logs
ALLOWED_MANAGED_POLICY = "AmazonAPIGatewayPushToCloudWatchLogs"


def expected_statements(synthesized: Synthesized, role: RoleSpec, log_group: Any) -> list[dict[str, Any]]:
    """Render the derived statements with ARNs taken from the stack's constructs (not from infra's resolver)."""
    stack = synthesized.stack

    def resolve(ref: Ref) -> Any:
        if isinstance(ref, ResourceRef):
            resources = stack.resources
            by_kind = {
                ResourceKind.TABLE: lambda: resources.tables[ref.name].table_arn,
                ResourceKind.SECRET: lambda: resources.secrets[ref.name].secret_arn,
                ResourceKind.QUEUE: lambda: resources.queues[ref.name].queue_arn,
                ResourceKind.TOPIC: lambda: resources.topics[ref.name].topic_arn,
                ResourceKind.PARAMETER: lambda: resources.parameters[ref.name].parameter_arn,
            }
            return by_kind[ref.kind]()
        assert isinstance(ref, PlatformRef)
        by_platform = {
            Platform.STATE_TABLE: lambda: stack.state_table.table.table_arn,
            Platform.OWN_LOG_GROUP: lambda: log_group.log_group_arn,
            Platform.AGENT_FUNCTION: lambda: stack.agents[ref.name].function.function_arn,
            Platform.ORCHESTRATOR_FUNCTION: lambda: stack.workflows[ref.name].orchestrator.function.function_arn,
            Platform.STATE_MACHINE: lambda: stack.workflows[ref.name].state_machine.state_machine_arn,
        }
        return by_platform[ref.kind]()

    return [normalized(synthesized.resolve(render_statement(s, resolve))) for s in role.statements]


def sort_key(statement: dict[str, Any]) -> str:
    return str(statement.get("Sid"))


@pytest.mark.parametrize("agent_name", sorted(CATALOG.agents))
def test_each_agent_has_its_own_role_with_exactly_the_derived_statements(
    synthesized: Synthesized, agent_name: str
) -> None:
    # Given the agent's function, found by its BATON_AGENT variable
    template = synthesized.template
    function_id = functions_by_env(template, "BATON_AGENT")[agent_name]
    role_id = function_role(template, function_id)
    # When its role's statements are compared with those derived from the agent's declared tools
    agent = CATALOG.agent(agent_name)
    expected = expected_statements(
        synthesized, agent_role(CATALOG, agent), synthesized.stack.agents[agent_name].log_group
    )
    actual = role_statements(template["Resources"][role_id])
    # Then they are equal, and nothing else is attached to the role
    assert sorted(actual, key=sort_key) == sorted(expected, key=sort_key)
    assert "ManagedPolicyArns" not in template["Resources"][role_id]["Properties"]
    # and every tool grant (declared or implied by a secret) is present with its exact actions
    declared = {(tuple(sorted(g.actions)), g.resource.name) for t in CATALOG.tools_of(agent) for g in t.all_grants()}
    assert len(declared) == sum(1 for s in actual if str(s["Sid"]).startswith("Tool"))


def test_no_role_is_shared_and_no_separate_policy_widens_a_role(synthesized: Synthesized) -> None:
    # Given every function of the stack
    template = synthesized.template
    roles = [function_role(template, f) for f in synthesized.resources("AWS::Lambda::Function")]
    # Then each has its own role, and no AWS::IAM::Policy adds statements to any role
    assert len(roles) == len(set(roles)) == len(CATALOG.agents) + len(CATALOG.workflows) + 1
    assert synthesized.resources("AWS::IAM::Policy") == {}
    assert synthesized.resources("AWS::IAM::ManagedPolicy") == {}


def test_orchestrator_and_api_roles_equal_their_derivations(synthesized: Synthesized) -> None:
    template = synthesized.template
    stack = synthesized.stack
    for name, workflow in CATALOG.workflows.items():
        # Given the orchestrator of each workflow
        orchestration = stack.workflows[name]
        function_id = functions_by_env(template, "BATON_WORKFLOW")[name]
        actual = role_statements(template["Resources"][function_role(template, function_id)])
        expected = expected_statements(
            synthesized, orchestrator_role(CATALOG, workflow), orchestration.orchestrator.log_group
        )
        # Then its role holds exactly the derived statements: no Delete, Update or Scan
        assert sorted(actual, key=sort_key) == sorted(expected, key=sort_key)
        actions = {a for s in actual for a in s["Action"]}
        assert not actions & {"dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:Scan"}
    # Given the api function
    api_id = synthesized.logical_id(stack.api.handler.function)
    actual = role_statements(template["Resources"][function_role(template, api_id)])
    expected = expected_statements(synthesized, api_role(CATALOG), stack.api.handler.log_group)
    assert sorted(actual, key=sort_key) == sorted(expected, key=sort_key)


@pytest.mark.parametrize("workflow_name", sorted(CATALOG.workflows))
def test_state_machine_role_invokes_exactly_its_workflow_functions(
    synthesized: Synthesized, workflow_name: str
) -> None:
    # Given the workflow's state machine and the functions of that workflow, found by their environment
    template = synthesized.template
    workflow = CATALOG.workflow(workflow_name)
    orchestration = synthesized.stack.workflows[workflow_name]
    machine = template["Resources"][synthesized.logical_id(orchestration.state_machine)]
    role = template["Resources"][machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]]
    agents = functions_by_env(template, "BATON_AGENT")
    functions = [functions_by_env(template, "BATON_WORKFLOW")[workflow_name]] + [agents[a] for a in workflow.agents]
    # When the resources of its lambda:InvokeFunction statements are collected
    statements = role_statements(role)
    invoked = [r for s in statements if "lambda:InvokeFunction" in s["Action"] for r in s["Resource"]]
    # Then they are each function's ARN and ARN:* (versions, aliases), and nothing else
    expected: list[dict[str, Any]] = [{"Fn::GetAtt": [f, "Arn"]} for f in functions]
    expected += [{"Fn::Join": ["", [{"Fn::GetAtt": [f, "Arn"]}, ":*"]]} for f in functions]
    assert sorted(invoked, key=repr) == sorted(expected, key=repr)
    assert all(s["Action"] == ["lambda:InvokeFunction"] for s in statements if "lambda:InvokeFunction" in s["Action"])
    # and the whole role equals its derivation (failure records limited to FAILURE# items)
    derived = expected_statements(synthesized, derive_state_machine_role(CATALOG, workflow), None)
    assert sorted(statements, key=sort_key) == sorted(derived, key=sort_key)
    journal = next(s for s in statements if s["Action"] == ["dynamodb:PutItem"])
    assert journal["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FAILURE#*"]}}


def test_no_wildcard_actions_anywhere(synthesized: Synthesized) -> None:
    # Given every Allow statement of every policy in the template (roles, queue and topic policies)
    for logical_id, statement in all_policy_statements(synthesized.template):
        if statement.get("Effect") != "Allow":
            continue  # the TLS-only Deny statements of queues and topics may name sqs:* / sns:*
        # Then no action is "*" or "service:*", and none uses NotAction
        assert "NotAction" not in statement, logical_id
        for action in as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)  # neither "*" nor "service:*" nor "service:Get*"


def test_resource_wildcards_only_where_aws_requires_them(synthesized: Synthesized) -> None:
    # Given every Allow statement whose Resource includes "*"
    seen: set[str] = set()
    for logical_id, statement in all_policy_statements(synthesized.template):
        if statement.get("Effect") != "Allow":
            continue
        assert "NotResource" not in statement, logical_id
        if "*" in as_list(statement.get("Resource", [])):
            # Then "*" is its only resource, and each of its actions is a listed exception
            assert statement["Resource"] == ["*"], logical_id
            unexplained = [a for a in statement["Action"] if a not in ALLOWED_WILDCARD_ACTIONS]
            assert not unexplained, (logical_id, unexplained)
            seen.update(statement["Action"])
    # and the exception list holds nothing the template does not need
    assert seen == set(ALLOWED_WILDCARD_ACTIONS)


def test_only_the_api_gateway_account_role_uses_a_managed_policy(synthesized: Synthesized) -> None:
    for logical_id, role in synthesized.resources("AWS::IAM::Role").items():
        managed = role["Properties"].get("ManagedPolicyArns", [])
        if managed:
            assert len(managed) == 1, logical_id
            assert ALLOWED_MANAGED_POLICY in str(managed[0]), logical_id
            principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
            assert principal == "apigateway.amazonaws.com"


def test_secrets_are_readable_only_by_the_agents_that_declare_them(synthesized: Synthesized) -> None:
    # Given each secret of the catalog
    template = synthesized.template
    agents = functions_by_env(template, "BATON_AGENT")
    for name, secret in synthesized.stack.resources.secrets.items():
        secret_ref = {"Ref": synthesized.logical_id(secret)}
        # When the roles whose Allow statements name it are collected
        readers = set()
        for logical_id, statement in all_policy_statements(template):
            if statement.get("Effect") == "Allow" and secret_ref in statement.get("Resource", []):
                readers.add(logical_id)
        # Then they are exactly the roles of the agents whose tools declare the secret
        declaring = {a.name for a in CATALOG.agents.values() if any(name in t.secrets for t in CATALOG.tools_of(a))}
        assert readers == {function_role(template, agents[a]) for a in declaring}
