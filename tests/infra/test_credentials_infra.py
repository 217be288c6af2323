"""Short-lived credentials in the synthesized template (CDK's Template assertions), for tests.infra.credentials_app.

What is proven: a secret declaring a rotation function and rotation_days gets a rotation schedule of that period on
that function, and the function's permission to be invoked by Secrets Manager for that secret alone; a secret of
OAuth client credentials is created in their shape; a tool's STS session role holds exactly its declared grant and
trusts its agent's role alone, and that agent's role may assume exactly that role (and holds none of the grant).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from baton.iam import session_role_name
from baton.testing.cloudformation import Synthesized, synthesize
from tests.infra.credentials_app import ROTATOR


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The credentials test app, synthesized as `cdk synth` would (cdk-nag runs during synthesis)."""
    return synthesize("tests.infra.credentials_app:CATALOG", tmp_path_factory.mktemp("cdk.out.credentials"))


def _role_named(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, role),) = [
        (logical_id, resource)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role" and resource["Properties"].get("RoleName") == name
    ]
    return logical_id, role


def test_a_secret_declaring_rotation_gets_its_schedule_and_its_functions_permission(synthesized: Synthesized) -> None:
    """Given secret partner_client declaring rotation every 7 days by a function (by ARN)
    Then the template rotates it on that schedule with that function, and lets Secrets Manager invoke the function
    for that secret only (source ARN and account)."""
    template = Template.from_json(synthesized.template)
    secret = synthesized.logical_id(synthesized.stack.resources.secrets["partner_client"])
    template.resource_count_is("AWS::SecretsManager::RotationSchedule", 1)
    template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "SecretId": {"Ref": secret},
            "RotationLambdaARN": ROTATOR,
            "RotationRules": {"ScheduleExpression": "rate(7 days)"},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": ROTATOR,
            "Principal": "secretsmanager.amazonaws.com",
            "SourceArn": {"Ref": secret},
            "SourceAccount": Match.any_value(),
        },
    )


def test_a_client_credentials_secret_is_created_in_their_shape(synthesized: Synthesized) -> None:
    secret = synthesized.template["Resources"][
        synthesized.logical_id(synthesized.stack.resources.secrets["partner_client"])
    ]
    generate = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generate["SecretStringTemplate"]).keys() == {"client_id"}
    assert generate["GenerateStringKey"] == "client_secret"


@pytest.mark.attack("ASI03")
def test_a_session_role_holds_its_grant_trusts_its_agent_alone_and_the_agent_may_only_assume_it(
    synthesized: Synthesized,
) -> None:
    """Given tool write_report declaring a session (PutItem on the reports table, scoped to the run)
    Then its session role holds exactly that grant and trusts only the reporter agent's role; the reporter's role may
    assume exactly that role, and holds no dynamodb action itself."""
    template = synthesized.template
    name = session_role_name(synthesized.stack_name, "write_report")
    _, session = _role_named(template, name)
    (policy,) = session["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    table = synthesized.logical_id(synthesized.stack.resources.tables["reports"])
    assert statement["Action"] == "dynamodb:PutItem"
    assert statement["Resource"] == {"Fn::GetAtt": [table, "Arn"]}
    agent_role = synthesized.logical_id(synthesized.stack.agents["reporter"].derived_role.resource)
    (trust,) = session["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Fn::GetAtt": [agent_role, "Arn"]}}
    agent_statements = template["Resources"][agent_role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assume = next(s for s in agent_statements if s["Sid"] == "AssumeSessionWriteReport")
    assert assume["Action"] == "sts:AssumeRole"
    assert name in json.dumps(assume["Resource"])
    assert not [s for s in agent_statements if "dynamodb" in json.dumps(s["Action"])]
    # and the agent's function is told the role and the table's ARN its session policy names
    function = synthesized.logical_id(synthesized.stack.agents["reporter"].function)
    variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert "BATON_SESSION_ROLES" in variables
    assert "BATON_RESOURCE_ARNS" in variables
