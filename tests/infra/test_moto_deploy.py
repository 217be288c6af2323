"""Deploy the synthesized template into moto's CloudFormation and run the refund workflow through it.

What this proves that the offline engine cannot: the wiring CDK produced (environment variables, ARNs, the
state machine's substitutions, the API function's configuration) really connects the functions, and every
AWS call each function made is allowed by the role policy *as deployed* (actions, resource ARNs and the
dynamodb:LeadingKeys conditions), which is what AWS would enforce.

moto gaps bridged here, and only these (see ../shared/notes/offline-aws-with-moto.md):
- AWS::SecretsManager::Secret has no CloudFormation model: each secret is created through the API first and
  the template's references to it are replaced by that ARN (the resource itself is dropped).
- moto's CloudFormation ignores DefinitionS3Location, and a stack's state machine lands in its
  non-executing Step Functions backend: the state machine is created through the executing API under the
  stack's name for it (so the same ARN), from the uploaded definition asset with the template's
  DefinitionSubstitutions resolved to the deployed resources.
- API Gateway's proxy integration is not invoked by moto: requests are API Gateway proxy events sent to the
  deployed api function.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
import secrets
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.aws import AwsClients
from baton.local import moto_patches
from baton.local.engine import in_process_handler
from baton.local.http import LocalHttpTransport
from baton.statemachine import render_definition_text
from refund_app.offline import FakePaymentProvider, prepare
from tests.infra.conftest import Synthesized

ACCOUNT, REGION = "123456789012", "us-east-1"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "refund"
MOTO = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    params: dict[str, Any]


@dataclass
class Deployment:
    """The deployed stack, in the shape the refund workflow's offline fixture expects."""

    clients: AwsClients
    physical_ids: dict[str, str]
    http: LocalHttpTransport
    secret_values: dict[str, str]
    functions: dict[str, dict[str, Any]]  # function name -> configuration
    calls: list[Call] = field(default_factory=list)
    provider: FakePaymentProvider | None = None

    def secret_value(self, name: str) -> str:
        return self.secret_values[name]

    def api(self, method: str, resource: str, **event: Any) -> tuple[int, dict[str, Any]]:
        request = {"httpMethod": method, "resource": resource, "requestContext": {"requestId": "r"}, **event}
        response = self.clients.client("lambda").invoke(FunctionName=self._api_function, Payload=json.dumps(request))
        answer = json.loads(response["Payload"].read())
        return answer["statusCode"], json.loads(answer["body"])

    @property
    def _api_function(self) -> str:
        return next(n for n, c in self.functions.items() if "BATON_STATE_MACHINES" in c["Environment"]["Variables"])

    @property
    def state_machines(self) -> dict[str, str]:
        variables = self.functions[self._api_function]["Environment"]["Variables"]
        machines: dict[str, str] = json.loads(variables["BATON_STATE_MACHINES"])
        return machines

    @property
    def state_table(self) -> str:
        return str(next(iter(self.functions.values()))["Environment"]["Variables"]["BATON_STATE_TABLE"])


def _zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def _replace_refs(value: Any, arns: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in arns:
            return arns[value["Ref"]]
        return {k: _replace_refs(v, arns) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_refs(v, arns) for v in value]
    return value


def _resolve(value: Any, physical: dict[str, str], clients: AwsClients) -> str:
    """Ref and Fn::GetAtt Arn, the only intrinsics the state machine's properties use."""
    if isinstance(value, dict) and "Ref" in value:
        return physical[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", attribute
        name = physical[logical_id]
        if name.startswith("arn:"):
            return name
        try:
            return str(clients.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])
        except clients.client("lambda").exceptions.ResourceNotFoundException:
            return str(clients.client("iam").get_role(RoleName=name)["Role"]["Arn"])
    raise AssertionError(f"cannot resolve {value!r}")


def _upload_assets(outdir: Path, s3: Any) -> None:
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
    s3.create_bucket(Bucket=bucket)
    manifest = json.loads((outdir / "Baton.assets.json").read_text())
    for asset in manifest["files"].values():
        source = outdir / asset["source"]["path"]
        body = _zip(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)


def _register_handlers(deployment: Deployment, session: boto3.Session) -> None:
    for name, config in deployment.functions.items():

        def observe(service: str, operation: str, params: dict[str, Any], function: str = name) -> None:
            deployment.calls.append(Call(function, f"{service}:{operation}", params))

        clients = AwsClients(session, observer=observe)
        env = config["Environment"]["Variables"]
        moto_patches.register(name, in_process_handler(config["Handler"], env, clients, deployment.http))


@pytest.fixture(scope="module")
def deployment(synthesized: Synthesized) -> Iterator[Deployment]:
    with mock_aws(config=MOTO):  # type: ignore[call-overload]
        moto_patches.install()
        session = boto3.Session(region_name=REGION)
        clients = AwsClients(session)
        _upload_assets(synthesized.outdir, clients.client("s3"))
        clients.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")

        # bridge 1: secrets exist before the stack, and the template points at them
        template = json.loads(json.dumps(synthesized.template))
        secret_arns, values = {}, {}
        for logical_id in list(template["Resources"]):
            if template["Resources"][logical_id]["Type"] == "AWS::SecretsManager::Secret":
                values[logical_id] = secrets.token_urlsafe(24)
                secret_arns[logical_id] = clients.client("secretsmanager").create_secret(
                    Name=f"baton-{logical_id}", SecretString=values[logical_id]
                )["ARN"]
                del template["Resources"][logical_id]
        template = _replace_refs(template, secret_arns)

        cloudformation = clients.client("cloudformation")
        cloudformation.create_stack(
            StackName="Baton", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
        )
        stack = cloudformation.describe_stacks(StackName="Baton")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

        # bridge 2: moto neither reads DefinitionS3Location nor runs a stack's state machine: create it through
        # the executing API from the asset CloudFormation would fetch, with its substitutions resolved
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName="Baton")["StackResourceSummaries"]
        }
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::StepFunctions::StateMachine":
                continue
            properties = resource["Properties"]
            location = properties["DefinitionS3Location"]
            definition = (
                clients.client("s3")
                .get_object(Bucket=f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}", Key=location["Key"])["Body"]
                .read()
                .decode()
            )
            substitutions = {
                k: _resolve(v, physical, clients) for k, v in properties["DefinitionSubstitutions"].items()
            }
            clients.client("stepfunctions").create_state_machine(
                name=physical[logical_id].rsplit(":", 1)[-1],
                definition=render_definition_text(definition, substitutions),
                roleArn=_resolve(properties["RoleArn"], physical, clients),
            )

        lambda_client = clients.client("lambda")
        functions = {f["FunctionName"]: f for f in lambda_client.list_functions()["Functions"]}
        physical_ids: dict[str, str] = {}
        for config in functions.values():
            physical_ids |= json.loads(config["Environment"]["Variables"].get("BATON_RESOURCES", "{}"))
        by_arn = {arn: value for logical_id, arn in secret_arns.items() for value in [values[logical_id]]}
        secret_values = {name: by_arn[arn] for name, arn in physical_ids.items() if arn in by_arn}
        deployment = Deployment(clients, physical_ids, LocalHttpTransport(), secret_values, functions)
        _register_handlers(deployment, session)
        deployment.provider = prepare(deployment)
        try:
            yield deployment
        finally:
            moto_patches.uninstall()


def run_through_api(deployment: Deployment, example: str) -> dict[str, Any]:
    body = json.dumps({"input": json.loads((EXAMPLES / f"{example}.json").read_text())})
    status, started = deployment.api("POST", "/workflows/{name}/runs", pathParameters={"name": "refund"}, body=body)
    assert status == 202, started
    sfn = deployment.clients.client("stepfunctions")
    execution = deployment.state_machines["refund"].replace(":stateMachine:", ":execution:") + f":{started['run_id']}"
    deadline = time.monotonic() + 60
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)
    status, run = deployment.api("GET", "/runs/{run_id}", pathParameters={"run_id": started["run_id"]})
    assert status == 200
    return run


def test_the_deployed_wiring_runs_every_refund_path(deployment: Deployment) -> None:
    # Given the stack as CloudFormation created it / When each example is posted to the deployed api function
    eligible = run_through_api(deployment, "default")
    expired = run_through_api(deployment, "window-expired")
    failing = run_through_api(deployment, "provider-failing")
    # Then each ends as it does in the offline engine
    assert eligible["status"] == "SUCCEEDED"
    assert [s["agent"] for s in eligible["steps"]] == [
        "order_lookup",
        "return_policy",
        "payment_reversal",
        "customer_notifier",
    ]
    assert eligible["result"]["outcome"] == "refunded"
    assert expired["result"]["outcome"] == "denied"
    assert failing["result"]["outcome"] == "escalated"
    provider = deployment.provider
    assert provider is not None
    assert len(provider.refunds_for("pay_1001")) == 1
    assert provider.refunds_for("pay_1003") == []


# ---------------------------------------------------------------- the deployed roles, as AWS would judge


def _arn(call: Call) -> list[tuple[str, str, str | None]]:
    """(action, resource ARN, partition key) for each request a call makes."""
    p = call.params
    service = call.action.split(":")[0]
    if call.action == "dynamodb:TransactWriteItems":
        # IAM authorises each item of a transaction as its own action
        requests = []
        for item in p["TransactItems"]:
            for operation, body in item.items():
                action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}.get(operation, operation)
                arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{body['TableName']}"
                requests.append((f"dynamodb:{action}", arn, _pk(body)))
        return requests
    if service == "dynamodb":
        return [(call.action, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}", _pk(p))]
    if service == "sqs":
        return [(call.action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{p['QueueUrl'].rsplit('/', 1)[-1]}", None)]
    if service == "ssm":
        return [(call.action, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{p['Name']}", None)]
    resource = p.get("TopicArn") or p.get("SecretId") or p.get("stateMachineArn")
    assert resource, f"no resource rule for {call.action}"
    return [(call.action, resource, None)]


def _pk(params: dict[str, Any]) -> str | None:
    for source in (params.get("Key"), params.get("Item")):
        if source and "pk" in source:
            return str(source["pk"]["S"])
    values = params.get("ExpressionAttributeValues") or {}
    return str(values[":pk"]["S"]) if ":pk" in values else None


def _allows(statement: dict[str, Any], action: str, arn: str, pk: str | None) -> bool:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement.get("Resource", [])
    resources = resources if isinstance(resources, list) else [resources]
    if statement["Effect"] != "Allow" or action not in actions:
        return False
    if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        for key, patterns in tests.items():
            # the only condition Baton derives; anything else fails closed, so this check cannot pass wrongly
            if (operator, key) != ("ForAllValues:StringLike", "dynamodb:LeadingKeys") or pk is None:
                return False
            if not any(fnmatch.fnmatchcase(pk, pattern) for pattern in patterns):
                return False
    return True


def _role_statements(deployment: Deployment, function: str) -> list[dict[str, Any]]:
    iam = deployment.clients.client("iam")
    role = deployment.functions[function]["Role"].rsplit("/", 1)[-1]
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        # moto keeps documents of CloudFormation-created roles as the repr of a dict
        parsed = ast.literal_eval(document) if isinstance(document, str) else document
        statements += parsed["Statement"]
    return statements


def test_every_call_each_function_made_is_allowed_by_its_deployed_role(deployment: Deployment) -> None:
    # Given the calls recorded while the three refund paths ran through the deployed stack
    if not deployment.calls:
        run_through_api(deployment, "default")
    denied = []
    for call in deployment.calls:
        statements = _role_statements(deployment, call.function)
        for action, arn, pk in _arn(call):
            if not any(_allows(s, action, arn, pk) for s in statements):
                denied.append((call.function.split("-")[1], action, arn, pk))
    # Then AWS would have allowed every one of them
    assert denied == []
    assert len({c.function for c in deployment.calls}) == len(deployment.functions)


def test_an_agent_role_denies_what_its_agent_must_not_do(deployment: Deployment) -> None:
    # Given the order_lookup agent's deployed role
    function = next(n for n in deployment.functions if "OrderLookup" in n)
    statements = _role_statements(deployment, function)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{deployment.state_table}"
    orders = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{deployment.physical_ids['orders']}"
    forbidden = [
        ("dynamodb:PutItem", orders, None),  # writing the orders it reads
        ("dynamodb:GetItem", table, "RUN#anything"),  # reading run state
        ("dynamodb:PutItem", table, "RUN#anything"),  # writing run state
        ("dynamodb:PutItem", table, "TASK#order_lookup#run"),  # forging its own task
        ("dynamodb:GetItem", table, "TASK#payment_reversal#run"),  # reading another agent's input
        ("dynamodb:PutItem", table, "JOURNAL#payment_reversal#run"),  # forging another agent's result
        ("dynamodb:PutItem", table, "FAILURE#run"),  # forging the state machine's failure records
        ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:anything", None),
        ("secretsmanager:GetSecretValue", deployment.physical_ids["payment_api_key"], None),
    ]
    for action, arn, pk in forbidden:
        assert not any(_allows(s, action, arn, pk) for s in statements), (action, arn, pk)
    assert any(_allows(s, "dynamodb:GetItem", orders, None) for s in statements)
    assert any(_allows(s, "dynamodb:GetItem", table, "TASK#order_lookup#run") for s in statements)
    assert any(_allows(s, "dynamodb:PutItem", table, "JOURNAL#order_lookup#run") for s in statements)
