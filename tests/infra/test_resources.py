"""The deployed wiring: functions, state table, state machine and API, as the catalog and handlers expect."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from baton.settings import ENV_AGENT_FUNCTIONS, ENV_RESOURCES, ENV_STATE_MACHINES, ENV_STATE_TABLE
from baton.statemachine import DEFINITION_FILE
from refund_app.catalog import CATALOG
from tests.infra.conftest import Synthesized
from tests.infra.helpers import functions_by_env


def joined_json(value: object) -> dict[str, object]:
    """Parse a JSON environment value that CloudFormation will assemble with Fn::Join, keeping the tokens."""
    if isinstance(value, str):
        loaded: dict[str, object] = json.loads(value)
        return loaded
    assert isinstance(value, dict)
    separator, parts = value["Fn::Join"]
    tokens: list[object] = []
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
        else:
            text += f"@@{len(tokens)}@@"
            tokens.append(part)
    parsed = json.loads(text)
    assert separator == ""
    result: dict[str, object] = {}
    for key, item in parsed.items():
        assert isinstance(item, str)
        assert item.startswith("@@")
        result[key] = tokens[int(item.strip("@"))]
    return result


def test_state_table_has_pitr_ttl_encryption_and_on_demand_billing(synthesized: Synthesized) -> None:
    table = synthesized.template["Resources"][synthesized.logical_id(synthesized.stack.state_table.table)]
    properties = table["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]


def test_every_catalog_table_has_pitr_and_encryption(synthesized: Synthesized) -> None:
    for logical_id, table in synthesized.resources("AWS::DynamoDB::Table").items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            logical_id
        )
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}, logical_id


def test_functions_run_python_313_on_arm64_traced_with_their_own_log_group(synthesized: Synthesized) -> None:
    functions = synthesized.resources("AWS::Lambda::Function")
    log_groups = synthesized.resources("AWS::Logs::LogGroup")
    assert len(functions) == len(CATALOG.agents) + len(CATALOG.workflows) + 1
    used = []
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13", logical_id
        assert properties["Architectures"] == ["arm64"], logical_id
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "baton"
        log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert "RetentionInDays" in log_groups[log_group]["Properties"], logical_id
        used.append(log_group)
    assert len(used) == len(set(used))


@pytest.mark.parametrize("agent_name", sorted(CATALOG.agents))
def test_agent_environment_names_only_the_resources_its_tools_reference(
    synthesized: Synthesized, agent_name: str
) -> None:
    # Given the agent's function
    template = synthesized.template
    agent = CATALOG.agent(agent_name)
    function = template["Resources"][functions_by_env(template, "BATON_AGENT")[agent_name]]
    variables = function["Properties"]["Environment"]["Variables"]
    # Then BATON_RESOURCES maps exactly its tools' resources to their physical ids (no values, no secrets)
    resources = joined_json(variables[ENV_RESOURCES])
    assert set(resources) == {r.name for r in CATALOG.resources_of(agent)}
    physical = synthesized.stack.resources.physical_id
    for name, token in resources.items():
        assert token == synthesized.resolve(physical(name))
    assert variables[ENV_STATE_TABLE] == {"Ref": synthesized.logical_id(synthesized.stack.state_table.table)}
    # and reserved concurrency is set exactly when the catalog asks for it
    assert function["Properties"].get("ReservedConcurrentExecutions") == agent.reserved_concurrency


def test_orchestrator_knows_its_agents_by_function_arn(synthesized: Synthesized) -> None:
    template = synthesized.template
    agents = functions_by_env(template, "BATON_AGENT")
    for name, workflow in CATALOG.workflows.items():
        function = template["Resources"][functions_by_env(template, "BATON_WORKFLOW")[name]]
        functions = joined_json(function["Properties"]["Environment"]["Variables"][ENV_AGENT_FUNCTIONS])
        assert functions == {a: {"Fn::GetAtt": [agents[a], "Arn"]} for a in workflow.agents}


def test_state_machine_uses_the_shared_definition_with_its_substitutions(synthesized: Synthesized) -> None:
    template = synthesized.template
    for name in CATALOG.workflows:
        orchestration = synthesized.stack.workflows[name]
        properties = template["Resources"][synthesized.logical_id(orchestration.state_machine)]["Properties"]
        # the definition is the repository's file, shipped as an asset
        key = properties["DefinitionS3Location"]["Key"]
        assert (synthesized.outdir / f"asset.{key}").read_text() == DEFINITION_FILE.read_text()
        assert set(properties["DefinitionSubstitutions"]) == set(
            re.findall(r"\$\{(\w+)\}", DEFINITION_FILE.read_text())
        )
        orchestrator = functions_by_env(template, "BATON_WORKFLOW")[name]
        assert properties["DefinitionSubstitutions"]["OrchestratorFunctionArn"] == {"Fn::GetAtt": [orchestrator, "Arn"]}
        assert properties["DefinitionSubstitutions"]["StateTableName"] == {
            "Ref": synthesized.logical_id(synthesized.stack.state_table.table)
        }
        assert properties["TracingConfiguration"] == {"Enabled": True}
        assert properties["LoggingConfiguration"]["Level"] == "ALL"


def test_api_knows_each_workflow_state_machine(synthesized: Synthesized) -> None:
    api = synthesized.template["Resources"][synthesized.logical_id(synthesized.stack.api.handler.function)]
    machines = joined_json(api["Properties"]["Environment"]["Variables"][ENV_STATE_MACHINES])
    assert machines == {
        name: {"Ref": synthesized.logical_id(w.state_machine)} for name, w in synthesized.stack.workflows.items()
    }


def test_every_api_method_uses_iam_authorization(synthesized: Synthesized) -> None:
    methods = synthesized.resources("AWS::ApiGateway::Method")
    assert len(methods) == 2
    for logical_id, method in methods.items():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM", logical_id
        assert "RequestValidatorId" in method["Properties"], logical_id


def test_api_routes_validation_throttling_and_access_logs(synthesized: Synthesized) -> None:
    template = synthesized.template
    paths = {}
    resources = synthesized.resources("AWS::ApiGateway::Resource")
    for method in synthesized.resources("AWS::ApiGateway::Method").values():
        resource_id = method["Properties"]["ResourceId"]["Ref"]
        parts: list[str] = []
        while resource_id in resources:
            parts.insert(0, resources[resource_id]["Properties"]["PathPart"])
            parent = resources[resource_id]["Properties"]["ParentId"]
            resource_id = parent.get("Ref", "")
        paths[(method["Properties"]["HttpMethod"], "/" + "/".join(parts))] = method["Properties"]
    assert set(paths) == {("POST", "/workflows/{name}/runs"), ("GET", "/runs/{run_id}")}
    post = paths[("POST", "/workflows/{name}/runs")]
    assert post["RequestParameters"] == {
        "method.request.path.name": True,
        "method.request.header.Idempotency-Key": False,
    }
    assert "application/json" in post["RequestModels"]
    assert paths[("GET", "/runs/{run_id}")]["RequestParameters"] == {"method.request.path.run_id": True}
    (validator,) = synthesized.resources("AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    (stage,) = synthesized.resources("AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    assert settings["DataTraceEnabled"] is False
    assert "DestinationArn" in stage["Properties"]["AccessLogSetting"]
    assert stage["Properties"]["TracingEnabled"] is True
    assert "ApiUrl" in template["Outputs"]


def test_queues_and_topics_are_encrypted_and_tls_only(synthesized: Synthesized) -> None:
    for logical_id, queue in synthesized.resources("AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue["Properties"], (
            logical_id
        )
    for logical_id, topic in synthesized.resources("AWS::SNS::Topic").items():
        assert "KmsMasterKeyId" in topic["Properties"], logical_id
    assert len(synthesized.resources("AWS::SQS::QueuePolicy")) == len(synthesized.resources("AWS::SQS::Queue"))
    assert len(synthesized.resources("AWS::SNS::TopicPolicy")) == len(synthesized.resources("AWS::SNS::Topic"))


def test_the_state_machine_type_follows_the_catalog(synthesized: Synthesized, tmp_path: Path) -> None:
    # Given the reference catalog (Standard) and the same workflow declared Express
    from aws_cdk import App

    from baton.infra.app import build_app

    [standard] = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    app, stack = build_app(
        App(context={"baton:bundle": "false"}, outdir=str(tmp_path)), catalog="tests.express_catalog:CATALOG"
    )
    # When both are synthesized / Then each state machine has the type its workflow declares
    app.synth()
    template = json.loads((tmp_path / f"{stack.stack_name}.template.json").read_text())
    [express] = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert standard["Properties"]["StateMachineType"] == "STANDARD"
    assert express["Properties"]["StateMachineType"] == "EXPRESS"
    assert express["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
