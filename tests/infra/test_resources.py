"""The deployed wiring: functions, state table, audit keys and archive, state machines, the rules that close runs,
the API; as the catalog and the handlers expect. Each check runs on the test app and on the test app plus one
workflow (the `app` fixture)."""

from __future__ import annotations

import json
import re
from typing import Any

from baton import keys
from baton.iam import pascal
from baton.settings import ENV_AGENT_FUNCTIONS, ENV_AUDIT_KEY, ENV_RESOURCES, ENV_STATE_MACHINES, ENV_STATE_TABLE
from baton.statemachine import DEFINITION_FILE, definition_text
from baton.testing.cloudformation import STATUS_CHANGE, Synthesized, event_pattern
from tests.infra.helpers import (
    ACCOUNT,
    concrete,
    function_role,
    function_with_env,
    functions_by_env,
    state_machine_of,
)
from tests.infra.iam_eval import Decision, Request, evaluate_resource_policy

ABNORMAL = {"FAILED", "TIMED_OUT", "ABORTED"}


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


def resource(synthesized: Synthesized, construct: Any) -> dict[str, Any]:
    resources: dict[str, Any] = synthesized.template["Resources"]
    return dict(resources[synthesized.logical_id(construct)])


# ---------------------------------------------------------------- state and the catalog's resources


def test_state_table_has_pitr_ttl_encryption_on_demand_billing_and_a_stream(app: Synthesized) -> None:
    properties = resource(app, app.stack.state_table.table)["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    # the archiver reads committed audit records from the stream: the new image is all it needs
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_every_table_has_pitr_and_encryption(app: Synthesized) -> None:
    for logical_id, table in app.resources("AWS::DynamoDB::Table").items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, (
            logical_id
        )
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}, logical_id


def test_queues_and_topics_are_encrypted_and_tls_only(app: Synthesized) -> None:
    for logical_id, queue in app.resources("AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue["Properties"], (
            logical_id
        )
    for logical_id, topic in app.resources("AWS::SNS::Topic").items():
        assert "KmsMasterKeyId" in topic["Properties"], logical_id
    assert len(app.resources("AWS::SQS::QueuePolicy")) == len(app.resources("AWS::SQS::Queue"))
    assert len(app.resources("AWS::SNS::TopicPolicy")) == len(app.resources("AWS::SNS::Topic"))


# ---------------------------------------------------------------- functions


def test_functions_run_python_313_on_arm64_traced_with_their_own_log_group(app: Synthesized) -> None:
    catalog = app.catalog
    functions = app.resources("AWS::Lambda::Function")
    log_groups = app.resources("AWS::Logs::LogGroup")
    # one per agent, one orchestrator per workflow, the api and the archiver
    assert len(functions) == len(catalog.agents) + len(catalog.workflows) + 2
    used = []
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13", logical_id
        assert properties["Architectures"] == ["arm64"], logical_id
        assert properties["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "baton"
        # no scan of the asset's distributions for pydantic plugins at the first model built (Baton uses none)
        assert properties["Environment"]["Variables"]["PYDANTIC_DISABLE_PLUGINS"] == "__all__", logical_id
        log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert "RetentionInDays" in log_groups[log_group]["Properties"], logical_id
        used.append(log_group)
    assert len(used) == len(set(used))


def test_agent_environment_names_only_the_resources_its_tools_reference(app: Synthesized) -> None:
    template, catalog = app.template, app.catalog
    for name, agent in catalog.agents.items():
        # Given the agent's function
        function = template["Resources"][functions_by_env(template, "BATON_AGENT")[name]]
        variables = function["Properties"]["Environment"]["Variables"]
        # Then BATON_RESOURCES maps exactly its tools' resources to their physical ids (no values, no secrets)
        resources = joined_json(variables[ENV_RESOURCES]) if ENV_RESOURCES in variables else {}
        assert set(resources) == {r.name for r in catalog.resources_of(agent)}, name
        for resource_name, token in resources.items():
            assert token == app.resolve(app.stack.resources.physical_id(resource_name))
        # and no audit key, no state machine, no other agent's function
        assert not {ENV_AUDIT_KEY, ENV_STATE_MACHINES, ENV_AGENT_FUNCTIONS} & set(variables), name
        # and reserved concurrency is set exactly when the catalog asks for it
        assert function["Properties"].get("ReservedConcurrentExecutions") == agent.reserved_concurrency


def test_orchestrator_knows_its_agents_by_function_arn_and_signs_with_its_own_key(app: Synthesized) -> None:
    template = app.template
    agents = functions_by_env(template, "BATON_AGENT")
    for name, workflow in app.catalog.workflows.items():
        variables = template["Resources"][functions_by_env(template, "BATON_WORKFLOW")[name]]["Properties"]
        variables = variables["Environment"]["Variables"]
        functions = joined_json(variables[ENV_AGENT_FUNCTIONS])
        assert functions == {a: {"Fn::GetAtt": [agents[a], "Arn"]} for a in workflow.agents}
        key = app.logical_id(app.stack.workflows[name].audit_key)
        assert variables[ENV_AUDIT_KEY] == {"Fn::GetAtt": [key, "Arn"]}
        assert variables[ENV_STATE_TABLE] == {"Ref": app.logical_id(app.stack.state_table.table)}


# ---------------------------------------------------------------- orchestration


def test_state_machine_uses_the_shared_definition_with_its_substitutions(app: Synthesized) -> None:
    template = app.template
    for name in app.catalog.workflows:
        properties = template["Resources"][state_machine_of(template, name)]["Properties"]
        # the definition is the repository's file, shipped as an asset (Express: without the approval wait, which
        # an Express state machine refuses)
        key = properties["DefinitionS3Location"]["Key"]
        assert (app.outdir / f"asset.{key}").read_text() == definition_text(app.catalog.workflows[name].execution)
        if app.catalog.workflows[name].execution == "standard":
            assert (app.outdir / f"asset.{key}").read_text() == DEFINITION_FILE.read_text()
        assert set(properties["DefinitionSubstitutions"]) == set(
            re.findall(r"\$\{(\w+)\}", DEFINITION_FILE.read_text())
        )
        assert properties["DefinitionSubstitutions"]["StateTableName"] == {
            "Ref": app.logical_id(app.stack.state_table.table)
        }
        assert properties["TracingConfiguration"] == {"Enabled": True}
        assert properties["LoggingConfiguration"]["Level"] == "ALL"
        assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_the_state_machine_type_follows_the_catalog(app: Synthesized) -> None:
    # Given the test app's workflows, Standard and Express
    template = app.template
    workflows = app.catalog.workflows
    assert {w.execution for w in workflows.values()} == {"standard", "express"}
    # Then each state machine has the type its workflow declares
    for name, workflow in workflows.items():
        properties = template["Resources"][state_machine_of(template, name)]["Properties"]
        assert properties["StateMachineType"] == workflow.execution.upper(), name


def test_each_workflow_has_a_rule_that_sends_its_abnormal_ends_to_its_orchestrator(app: Synthesized) -> None:
    template = app.template
    rules = app.resources("AWS::Events::Rule")
    permissions = app.resources("AWS::Lambda::Permission")
    policies = app.resources("AWS::SQS::QueuePolicy")
    assert len(rules) == len(app.catalog.workflows)
    for name, workflow in app.catalog.workflows.items():
        machine = state_machine_of(template, name)
        orchestrator = functions_by_env(template, "BATON_WORKFLOW")[name]
        # Given the rule whose one target is the workflow's orchestrator
        (rule_id,) = [
            r
            for r, rule in rules.items()
            if [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Fn::GetAtt": [orchestrator, "Arn"]}]
        ]
        rule = rules[rule_id]["Properties"]
        if workflow.execution == "express":
            # Then an Express workflow's (its executions emit no status change) asks for a sweep every 5 minutes
            assert "EventPattern" not in rule
            assert rule["ScheduleExpression"] == "rate(5 minutes)"
            assert json.loads(rule["Targets"][0]["Input"]) == {"sweep": True}
        else:
            pattern = rule["EventPattern"]
            assert pattern["detail"]["stateMachineArn"] == [{"Ref": machine}]
            # Then it matches that state machine's executions that failed, timed out or were aborted, and no other
            assert pattern["source"] == ["aws.states"]
            assert pattern["detail-type"] == [STATUS_CHANGE]
            assert set(pattern["detail"]["status"]) == ABNORMAL
            assert set(pattern) == {"source", "detail-type", "detail"}
            assert set(pattern["detail"]) == {"status", "stateMachineArn"}
            matches = event_pattern(json.dumps(concrete(template, pattern)))
            arn = concrete(template, {"Ref": machine})
            for status in ("FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED", "RUNNING"):
                event = {
                    "source": "aws.states",
                    "detail-type": STATUS_CHANGE,
                    "detail": {"status": status, "stateMachineArn": arn},
                }
                assert matches(event) is (status in ABNORMAL), (name, status)
                other = {**event, "detail": {"status": status, "stateMachineArn": arn + "-other"}}
                assert not matches(other)
        # and its one target is the workflow's orchestrator, retried, with a dead-letter queue
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [orchestrator, "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        dead_letters = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        assert template["Resources"][dead_letters]["Type"] == "AWS::SQS::Queue"
        # which EventBridge may invoke (for this rule only), and whose DLQ it may write (for this rule only)
        assert any(
            p["Properties"]
            == {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": [orchestrator, "Arn"]},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
            }
            for p in permissions.values()
        ), name
        (queue_policy,) = [p for p in policies.values() if p["Properties"]["Queues"] == [{"Ref": dead_letters}]]
        document = concrete(template, queue_policy["Properties"]["PolicyDocument"])
        queue_arn = concrete(template, {"Fn::GetAtt": [dead_letters, "Arn"]})

        def sends(source: str, document: dict[str, Any] = document, queue_arn: str = queue_arn) -> Decision:
            context: dict[str, str | bool] = {"aws:SourceArn": source, "aws:SecureTransport": True}
            request = Request("sqs:SendMessage", queue_arn, context, principal="events.amazonaws.com")
            return evaluate_resource_policy(document, request)[0]

        assert sends(concrete(template, {"Fn::GetAtt": [rule_id, "Arn"]})) is Decision.ALLOW
        assert sends(f"arn:aws:events:us-east-1:{ACCOUNT}:rule/another") is Decision.IMPLICIT_DENY


# ---------------------------------------------------------------- audit: signing keys and the archive


def test_each_workflow_has_its_own_ecc_signing_key_that_only_its_orchestrator_may_use_to_sign(
    app: Synthesized,
) -> None:
    template = app.template
    roles = app.resources("AWS::IAM::Role")
    for name, orchestration in app.stack.workflows.items():
        # Given the workflow's audit key
        key_id = app.logical_id(orchestration.audit_key)
        key = template["Resources"][key_id]
        # Then it is an asymmetric P-256 signing key, kept when the stack goes (signatures stay verifiable)
        assert key["Properties"]["KeySpec"] == "ECC_NIST_P256"
        assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
        assert key["DeletionPolicy"] == "Retain"
        assert template["Outputs"][f"AuditKey{pascal(name)}"]["Value"] == {"Fn::GetAtt": [key_id, "Arn"]}
        # and its policy's only kms:Sign statement names the orchestrator role's ARN (aws:PrincipalArn)
        policy = concrete(template, key["Properties"]["KeyPolicy"])
        signing = [
            s
            for s in policy["Statement"]
            if "kms:Sign" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        ]
        orchestrator_role = function_role(template, functions_by_env(template, "BATON_WORKFLOW")[name])
        role_arn = concrete(template, {"Fn::GetAtt": [orchestrator_role, "Arn"]})
        assert [s["Condition"] for s in signing] == [{"StringEquals": {"aws:PrincipalArn": role_arn}}]
        assert roles[orchestrator_role]["Properties"]["RoleName"] in role_arn
        # When the key policy is asked about kms:Sign for every role of the stack
        key_arn = concrete(template, {"Fn::GetAtt": [key_id, "Arn"]})
        for role_id in roles:
            principal = concrete(template, {"Fn::GetAtt": [role_id, "Arn"]})
            request = Request("kms:Sign", key_arn, {"aws:PrincipalArn": principal}, principal=principal)
            decision, grantee = evaluate_resource_policy(policy, request)
            # Then it allows the orchestrator's role alone (through the account: its identity policy must too)
            if role_id == orchestrator_role:
                assert (decision, grantee) == (Decision.ALLOW, "account")
            else:
                assert decision is Decision.IMPLICIT_DENY, (name, role_id)
            # while any principal of the account may verify, and none of another account may do either
            verify = Request("kms:Verify", key_arn, {"aws:PrincipalArn": principal}, principal=principal)
            assert evaluate_resource_policy(policy, verify)[0] is Decision.ALLOW
        outsider = role_arn.replace(ACCOUNT, "999999999999")
        request = Request("kms:Sign", key_arn, {"aws:PrincipalArn": outsider}, principal=outsider)
        assert evaluate_resource_policy(policy, request)[0] is Decision.IMPLICIT_DENY


def test_the_audit_archive_is_an_object_lock_bucket_in_compliance_mode(app: Synthesized) -> None:
    archive = app.stack.audit_archive
    bucket_id = app.logical_id(archive.bucket)
    bucket = app.template["Resources"][bucket_id]
    properties = bucket["Properties"]
    # Object Lock with a default retention in COMPLIANCE mode (nobody, root included, shortens or lifts it)
    assert properties["ObjectLockEnabled"] is True
    lock = properties["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert int(lock["Rule"]["DefaultRetention"]["Days"]) > 0
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "BucketEncryption" in properties
    assert bucket["DeletionPolicy"] == "Retain"
    assert app.template["Outputs"]["AuditArchiveBucket"]["Value"] == {"Ref": bucket_id}
    # its policy refuses every request that is not TLS
    (policy,) = [
        p for p in app.resources("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Action"], deny["Condition"]) == (
        "Deny",
        "s3:*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )


def test_the_archiver_receives_the_state_tables_audit_records_and_nothing_else(app: Synthesized) -> None:
    # Given the archiver's event source mapping
    template = app.template
    archive = app.stack.audit_archive
    (mapping,) = app.resources("AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    # Then it reads the state table's stream into the archiver, sending what keeps failing to its queue
    assert properties["EventSourceArn"] == {"Fn::GetAtt": [app.logical_id(app.stack.state_table.table), "StreamArn"]}
    assert properties["FunctionName"] == {"Ref": function_with_env(template, "BATON_ARCHIVE_BUCKET")}
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [app.logical_id(archive.failures), "Arn"]
    }
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    # and its filter passes inserted and modified items whose sort key is an audit record's, and nothing else
    (criteria,) = properties["FilterCriteria"]["Filters"]
    assert json.loads(criteria["Pattern"]) == {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": keys.AUDIT_PREFIX}]}}},
    }
    matches = event_pattern(criteria["Pattern"])

    def record(event: str, sk: str) -> dict[str, Any]:
        return {"eventName": event, "dynamodb": {"Keys": {"pk": {"S": "RUN#relay_1"}, "sk": {"S": sk}}}}

    assert matches(record("INSERT", keys.audit_sk(1)))
    assert matches(record("MODIFY", keys.audit_sk(7)))
    assert not matches(record("REMOVE", keys.audit_sk(1)))
    for sk in (keys.META, keys.step_sk(1, 0), keys.ctx_sk("item_id"), keys.REQUEST, "1#0#1#entry"):
        assert not matches(record("INSERT", sk)), sk


# ---------------------------------------------------------------- the API


def test_api_knows_each_workflow_state_machine(app: Synthesized) -> None:
    template = app.template
    api = template["Resources"][function_with_env(template, ENV_STATE_MACHINES)]
    machines = joined_json(api["Properties"]["Environment"]["Variables"][ENV_STATE_MACHINES])
    assert machines == {name: {"Ref": state_machine_of(template, name)} for name in app.catalog.workflows}


def test_every_api_method_uses_iam_authorization(app: Synthesized) -> None:
    methods = app.resources("AWS::ApiGateway::Method")
    assert len(methods) == 2
    for logical_id, method in methods.items():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM", logical_id
        assert "RequestValidatorId" in method["Properties"], logical_id


def test_api_routes_validation_throttling_and_access_logs(app: Synthesized) -> None:
    template = app.template
    paths = {}
    resources = app.resources("AWS::ApiGateway::Resource")
    for method in app.resources("AWS::ApiGateway::Method").values():
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
    (validator,) = app.resources("AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    (stage,) = app.resources("AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    assert settings["DataTraceEnabled"] is False
    assert "DestinationArn" in stage["Properties"]["AccessLogSetting"]
    assert stage["Properties"]["TracingEnabled"] is True
    assert "ApiUrl" in template["Outputs"]
