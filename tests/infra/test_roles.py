"""Every role of the template holds exactly the statements baton.iam derives, and wildcards only where AWS needs
them. Each check runs on the test app and on the test app plus one workflow (the `app` fixture): they hold for
whatever the catalog holds."""

from __future__ import annotations

from typing import Any

import pytest

from baton.iam import ANY, Component, all_roles
from baton.testing.cloudformation import Synthesized
from tests.infra.helpers import (
    all_policy_statements,
    as_list,
    derived_roles,
    expected_statements,
    function_role,
    functions_by_env,
    role_statements,
    sort_key,
    state_machine_of,
)

# A second opinion on baton.iam's wildcard_reason: the actions AWS documents without resource-level permissions
# that Baton uses. Resource "*" with anything else fails, whatever reason the derivation gives.
RESOURCELESS_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "dynamodb:ListStreams",
}
# the only managed policy: API Gateway's account-level role for writing execution logs
ALLOWED_MANAGED_POLICY = "AmazonAPIGatewayPushToCloudWatchLogs"


@pytest.mark.attack("ASI10")
def test_every_role_equals_its_derivation(app: Synthesized) -> None:
    # Given every role baton.iam derives for the catalog (agents, orchestrators, state machines, api, archiver)
    template = app.template
    mapped = set()
    for spec, role_id in derived_roles(app):
        # When the role the template gives that component is read
        role = template["Resources"][role_id]
        actual = role_statements(role)
        # Then it holds exactly the derived statements, with ARNs of the same stack, and nothing is attached
        assert sorted(actual, key=sort_key) == sorted(expected_statements(app, spec), key=sort_key), (
            spec.component,
            spec.name,
        )
        assert "ManagedPolicyArns" not in role["Properties"], role_id
        mapped.add(role_id)
    # and the template holds no other role than API Gateway's account role for its execution logs
    others = set(app.resources("AWS::IAM::Role")) - mapped
    assert len(others) == 1
    (other,) = others
    assert ALLOWED_MANAGED_POLICY in str(template["Resources"][other]["Properties"]["ManagedPolicyArns"])


def test_one_role_per_component_and_no_separate_policy_widens_a_role(app: Synthesized) -> None:
    # Given every role derived for the catalog and the template role each component uses
    roles = derived_roles(app)
    catalog = app.catalog
    # Then no two components share a role: one per agent, two per workflow (orchestrator, state machine),
    # one for the api and one for the archiver
    assert len({role_id for _, role_id in roles}) == len(roles) == len(catalog.agents) + 2 * len(catalog.workflows) + 2
    functions = app.resources("AWS::Lambda::Function")
    assert len({function_role(app.template, f) for f in functions}) == len(functions)
    # and nothing adds statements to a role from outside it
    assert app.resources("AWS::IAM::Policy") == {}
    assert app.resources("AWS::IAM::ManagedPolicy") == {}


def test_no_wildcard_action_in_any_policy(app: Synthesized) -> None:
    # Given every Allow statement of every role and resource policy (queues, topics, the archive bucket)
    for logical_id, statement in all_policy_statements(app.template):
        if statement.get("Effect") != "Allow":
            continue  # the TLS-only Deny statements of queues, topics and buckets may name sqs:*, s3:*
        # Then no action is "*", "service:*" or a partial wildcard, and none uses NotAction
        assert "NotAction" not in statement, logical_id
        for action in as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)
            assert "?" not in action, (logical_id, action)


def test_resource_wildcards_only_where_the_derivation_declares_why(app: Synthesized) -> None:
    # Given every derived role and its template statements, by Sid
    seen: set[str] = set()
    for spec, role_id in derived_roles(app):
        derived = {s.sid: s for s in spec.statements}
        for statement in role_statements(app.template["Resources"][role_id]):
            assert "NotResource" not in statement, role_id
            spec_statement = derived[statement["Sid"]]
            if "*" in statement["Resource"]:
                # Then "*" is the statement's only resource, the derivation says why, and AWS has no
                # resource-level permission for any of its actions
                assert statement["Resource"] == ["*"], (role_id, statement["Sid"])
                assert spec_statement.resources == (ANY,)
                assert spec_statement.wildcard_reason, (spec.name, statement["Sid"])
                assert set(statement["Action"]) <= RESOURCELESS_ACTIONS, (spec.name, statement["Sid"])
                seen.update(statement["Action"])
            else:
                assert spec_statement.wildcard_reason is None, (spec.name, statement["Sid"])
    # and the second opinion lists nothing the template does not use
    assert seen == RESOURCELESS_ACTIONS
    # Given the resource policies (queues, topics, bucket): no Allow on "*" there at all
    role_ids = {role_id for _, role_id in derived_roles(app)}
    for logical_id, statement in all_policy_statements(app.template):
        if logical_id not in role_ids and statement.get("Effect") == "Allow":
            assert "*" not in statement.get("Resource", []), logical_id


def test_only_the_api_gateway_account_role_uses_a_managed_policy(app: Synthesized) -> None:
    for logical_id, role in app.resources("AWS::IAM::Role").items():
        managed = role["Properties"].get("ManagedPolicyArns", [])
        if managed:
            assert len(managed) == 1, logical_id
            assert ALLOWED_MANAGED_POLICY in str(managed[0]), logical_id
            principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
            assert principal == "apigateway.amazonaws.com"


def test_each_role_is_assumable_only_by_its_service(app: Synthesized) -> None:
    services = {
        Component.AGENT: "lambda.amazonaws.com",
        Component.ORCHESTRATOR: "lambda.amazonaws.com",
        Component.API: "lambda.amazonaws.com",
        Component.ARCHIVER: "lambda.amazonaws.com",
        Component.STATE_MACHINE: "states.amazonaws.com",
    }
    for spec, role_id in derived_roles(app):
        (trust,) = app.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": services[spec.component]},
        }


def test_state_machine_role_invokes_exactly_its_workflow_functions(app: Synthesized) -> None:
    template = app.template
    agents = functions_by_env(template, "BATON_AGENT")
    orchestrators = functions_by_env(template, "BATON_WORKFLOW")
    for name, workflow in app.catalog.workflows.items():
        # Given the workflow's state machine and the functions of that workflow, found by their environment
        machine = template["Resources"][state_machine_of(template, name)]
        statements = role_statements(template["Resources"][machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]])
        functions = [orchestrators[name]] + [agents[a] for a in workflow.agents]
        # When the resources of its lambda:InvokeFunction statements are collected
        invoked = [r for s in statements if "lambda:InvokeFunction" in s["Action"] for r in s["Resource"]]
        # Then they are each function's ARN and ARN:* (versions, aliases), and nothing else
        expected: list[dict[str, Any]] = [{"Fn::GetAtt": [f, "Arn"]} for f in functions]
        expected += [{"Fn::Join": ["", [{"Fn::GetAtt": [f, "Arn"]}, ":*"]]} for f in functions]
        assert sorted(invoked, key=repr) == sorted(expected, key=repr), name
        assert all(
            s["Action"] == ["lambda:InvokeFunction"] for s in statements if "lambda:InvokeFunction" in s["Action"]
        )


def test_only_each_orchestrator_may_sign_and_only_with_its_own_workflows_key(app: Synthesized) -> None:
    # Given every role of the template and every audit key, by workflow
    template = app.template
    keys = {name: app.logical_id(w.audit_key) for name, w in app.stack.workflows.items()}
    assert len(set(keys.values())) == len(app.catalog.workflows)
    for spec, role_id in derived_roles(app):
        kms = [
            s for s in role_statements(template["Resources"][role_id]) if any(a.startswith("kms:") for a in s["Action"])
        ]
        if spec.component is not Component.ORCHESTRATOR:
            # Then no other role holds any kms action
            assert kms == [], (spec.component, spec.name)
            continue
        # and an orchestrator holds kms:Sign on its own workflow's key, alone
        assert kms == [
            {
                "Sid": "SignAuditHeads",
                "Effect": "Allow",
                "Action": ["kms:Sign"],
                "Resource": [{"Fn::GetAtt": [keys[spec.name], "Arn"]}],
            }
        ]


def test_secrets_are_readable_only_by_the_agents_that_declare_them(app: Synthesized) -> None:
    template = app.template
    catalog = app.catalog
    agents = functions_by_env(template, "BATON_AGENT")
    for name, secret in app.stack.resources.secrets.items():
        # Given each secret of the catalog
        secret_ref = {"Ref": app.logical_id(secret)}
        # When the policies whose Allow statements name it are collected
        readers = {
            logical_id
            for logical_id, statement in all_policy_statements(template)
            if statement.get("Effect") == "Allow" and secret_ref in statement.get("Resource", [])
        }
        # Then they are exactly the roles of the agents whose tools declare the secret
        declaring = {a.name for a in catalog.agents.values() if any(name in t.secrets for t in catalog.tools_of(a))}
        assert declaring, name
        assert readers == {function_role(template, agents[a]) for a in declaring}


def test_the_state_table_is_named_only_by_the_roles_that_keep_run_state(app: Synthesized) -> None:
    # Given the state table's ARN as the template writes it
    table = {"Fn::GetAtt": [app.logical_id(app.stack.state_table.table), "Arn"]}
    for spec, role_id in derived_roles(app):
        statements = role_statements(app.template["Resources"][role_id])
        named = [s for s in statements if table in s["Resource"]]
        # Then no agent (nor the archiver) has a statement on it; the others only under dynamodb:LeadingKeys
        if spec.component in (Component.AGENT, Component.ARCHIVER):
            assert named == [], (spec.component, spec.name)
        else:
            assert named, (spec.component, spec.name)
            for statement in named:
                assert set(statement["Condition"]) == {"ForAllValues:StringLike"}, (spec.name, statement["Sid"])
                assert set(statement["Condition"]["ForAllValues:StringLike"]) == {"dynamodb:LeadingKeys"}
                assert not {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:UpdateItem"} & set(statement["Action"])


def test_the_extended_catalog_is_the_test_app_plus_one_workflow(
    synthesized: Synthesized, extended: Synthesized
) -> None:
    # the `app` fixture's second catalog is what its name says: one workflow more, everything else the same
    small, large = synthesized.catalog, extended.catalog
    assert len(large.workflows) == len(small.workflows) + 1
    assert set(small.workflows) < set(large.workflows)
    assert (large.agents, large.tools, large.resources) == (small.agents, small.tools, small.resources)
    assert len(all_roles(large)) == len(all_roles(small)) + 2
