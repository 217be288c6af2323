"""A Baton app's synthesized CloudFormation template, deployed into moto's CloudFormation and run.

    synthesized = synthesize("myapp.catalog:CATALOG", tmp_path)
    with deploy(synthesized) as deployment:
        run = deployment.run("refund", {"order_id": "ORD-1001"})   # through the deployed api function
        assert run["status"] == "SUCCEEDED"

What this proves that the offline engine (baton.local) cannot: the wiring CDK produced (environment variables,
ARNs, the state machines' substitutions, the API function's configuration, the rules and the stream mapping)
really connects the functions. Each deployed function runs its real handler in-process, built from its
deployed configuration (baton.local.functions), with its own boto3 session whose every AWS call is recorded
(`Deployment.calls`), so a test can judge each call against the function's role as deployed
(`Deployment.role_policy`). The state machines' own calls are read from their execution histories
(`Deployment.state_machine_calls`). The workflows' offline fixtures seed the deployment as they seed the
offline engine (it is a baton.local.deployment.OfflineDeployment).

moto gaps bridged, and only these (moto 5.2.5):

1. Secrets. moto's CloudFormation has no AWS::SecretsManager::Secret: each is created through the API
   first, and the template's references to it become that ARN (the resource is dropped from the template).
2. KMS keys. moto's CloudFormation creates every AWS::KMS::Key as a symmetric ENCRYPT_DECRYPT key, whatever
   its KeySpec and KeyUsage: each is created through the API first with the template's KeySpec, KeyUsage,
   description and key policy (pseudo parameters resolved), and the template's references become its id/ARN.
3. Object Lock. moto's CloudFormation creates an AWS::S3::Bucket without its ObjectLockEnabled,
   ObjectLockConfiguration and VersioningConfiguration: a bucket with Object Lock is created through the API
   first with the template's Object Lock configuration and versioning, and referenced by name/ARN.
4. State machines. moto's CloudFormation ignores DefinitionS3Location, and puts a stack's state machine in its
   non-executing Step Functions backend: each is created again through the executing API under the name the
   stack gave it (so with the same ARN), from the uploaded definition asset, with the template's
   DefinitionSubstitutions resolved to the deployed resources and the template's StateMachineType.
5. The stream event source mapping. moto would invoke the target on every write to the table, with every
   record, unfiltered, through its own Lambda runner: the AWS::Lambda::EventSourceMapping is dropped from the
   template, and `poll_streams` plays Lambda's poller: it reads the stream with the target function's own
   identity (its calls are recorded as that function's, as on AWS, where the poller uses the function's
   execution role), applies the mapping's FilterCriteria (moto's EventBridge pattern matcher: Lambda filters
   use EventBridge's pattern syntax) and invokes the function with batches of BatchSize.
6. EventBridge rules with Lambda targets. moto's EventBridge delivers to queues, logs and buses, not to Lambda,
   and its Step Functions emit no execution status change events: when an execution of a Standard state
   machine ends FAILED, TIMED_OUT or ABORTED, `wait` builds the "Step Functions Execution Status Change"
   event AWS would send (Express executions send none) and `publish` matches it against every rule as
   deployed (its EventPattern as moto stores it) and invokes each rule's Lambda targets with it.
7. API Gateway. moto does not invoke a proxy integration: requests are API Gateway proxy events (with the
   SigV4 caller in requestContext.identity.userArn) sent to the deployed api function.
8. Endpoints. botocore sends a call that names an ARN (DynamoDB Streams') to an account-based endpoint, which
   moto does not answer: AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled while the deployment lives.

Not bridged: moto's CloudFormation skips the resource policies of queues and buckets and API Gateway's stage,
model, request validator and account (with a warning); the tests check those on the template.

Needs baton[cdk,cloudformation]. Nothing here is imported by the runtime or shipped in a Lambda function.
"""

from __future__ import annotations

import ast
import io
import json
import os
import secrets
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import boto3
from moto import mock_aws
from moto.events.models import EventPattern

from baton import keys
from baton.aws import AwsClients
from baton.catalog import Catalog, resolve
from baton.local import moto_patches
from baton.local.functions import in_process_handler
from baton.local.http import LocalHttpTransport
from baton.statemachine import render_definition_text

ACCOUNT = "123456789012"
REGION = "us-east-1"
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
# who calls the API unless a test says otherwise (API Gateway's SigV4-authenticated identity)
DEFAULT_CALLER = f"arn:aws:iam::{ACCOUNT}:user/baton-tester"
ABNORMAL_END = ("FAILED", "TIMED_OUT", "ABORTED")
STATUS_CHANGE = "Step Functions Execution Status Change"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    # botocore sends calls naming an ARN (a stream's) to account-based endpoints; moto answers regional ones
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


# ---------------------------------------------------------------- synthesis


@dataclass(frozen=True)
class Synthesized:
    """A synthesized app: its stack (the construct tree), its template and its cloud assembly directory."""

    stack: Any  # baton.infra.stacks.baton_stack.BatonStack
    template: dict[str, Any]
    outdir: Path

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self.stack.catalog
        return catalog

    @property
    def stack_name(self) -> str:
        return str(self.stack.stack_name)

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.get_logical_id(construct.node.default_child))


def synthesize(catalog: str, outdir: Path, stack_name: str = "Baton") -> Synthesized:
    """Synthesize the app of `catalog` (dotted path(s), as BATON_CATALOG) without bundling dependencies."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from aws_cdk import App

    from baton.infra.app import build_app

    context = {"baton:bundle": "false", "baton:stack": stack_name}
    app, stack = build_app(App(context=context, outdir=str(outdir)), catalog=catalog)
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synthesized(stack=stack, template=template, outdir=outdir)


# ---------------------------------------------------------------- the deployment


@dataclass(frozen=True)
class Call:
    """One AWS call made by a deployed principal (a function's name, or a state machine's ARN)."""

    caller: str
    service: str  # the client's endpoint prefix: dynamodb, streams.dynamodb, kms, states, lambda, s3, ...
    operation: str  # the API operation: GetItem, TransactWriteItems, Invoke, ...
    params: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """An event a rule delivered to one of its targets (bridge 6)."""

    rule: str
    target: str
    event: dict[str, Any]


@dataclass
class _Mapping:
    """A stream event source mapping of the template, played by `poll_streams` (bridge 5)."""

    function: str
    stream_arn: str
    batch_size: int
    patterns: list[Callable[[Mapping[str, Any]], bool]]
    positions: dict[str, str] = field(default_factory=dict)  # shard id -> last sequence number delivered


_current = threading.local()


class Deployment:
    """The deployed stack: what a workflow's offline fixture needs, the API, and what every principal did."""

    def __init__(self, synthesized: Synthesized, session: boto3.Session, stack_name: str) -> None:
        self.synthesized = synthesized
        self.catalog = synthesized.catalog
        self.stack_name = stack_name
        self.session = session
        self.clients = AwsClients(session)
        self.http = LocalHttpTransport()
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.invocations: dict[str, int] = {}  # function name -> how many times its handler ran
        self.fixtures: dict[str, Any] = {}
        self.physical: dict[str, str] = {}  # logical id -> physical id
        self.physical_ids: dict[str, str] = {}  # catalog resource name -> physical id (as BATON_RESOURCES)
        self.functions: dict[str, dict[str, Any]] = {}  # function name -> configuration
        self.state_machines: dict[str, str] = {}  # workflow -> state machine ARN (as the api function has them)
        self.outputs: dict[str, str] = {}
        self._mappings: list[_Mapping] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------ what the offline fixtures use

    def secret_value(self, name: str) -> str:
        value = self.clients.client("secretsmanager").get_secret_value(SecretId=self.physical_ids[name])
        return str(value["SecretString"])

    # ------------------------------------------------------------ functions and roles

    def function(self, *, agent: str | None = None, workflow: str | None = None, kind: str | None = None) -> str:
        """The deployed function of an agent, of a workflow's orchestrator, or of kind "api" or "archiver"."""
        for name, config in self.functions.items():
            variables = config["Environment"]["Variables"]
            if agent is not None and variables.get("BATON_AGENT") == agent:
                return name
            if workflow is not None and variables.get("BATON_WORKFLOW") == workflow:
                return name
            if kind == "api" and "BATON_STATE_MACHINES" in variables:
                return name
            if kind == "archiver" and "BATON_ARCHIVE_BUCKET" in variables:
                return name
        raise KeyError(f"no deployed function for agent={agent} workflow={workflow} kind={kind}")

    def role_arn(self, principal: str) -> str:
        """The role of a deployed function (by name) or state machine (by ARN)."""
        if principal.startswith("arn:aws:states:"):
            machine = self.clients.client("stepfunctions").describe_state_machine(stateMachineArn=principal)
            return str(machine["roleArn"])
        return str(self.functions[principal]["Role"])

    def role_policy(self, principal: str) -> dict[str, Any]:
        """Every inline statement of the principal's role as deployed, as one policy document."""
        iam = self.clients.client("iam")
        role = self.role_arn(principal).rsplit("/", 1)[-1]
        statements: list[Any] = []
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            statements += _document(document)["Statement"]
        if iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            raise AssertionError(f"role {role} has managed policies: its inline statements are not all it allows")
        return {"Version": "2012-10-17", "Statement": statements}

    @staticmethod
    def current_function() -> str | None:
        """The deployed function whose handler is running on this thread (None outside any handler)."""
        stack: list[str] = getattr(_current, "functions", [])
        return stack[-1] if stack else None

    def invoke(self, function: str, event: Mapping[str, Any]) -> Any:
        """Invoke a deployed function (as a service would: not recorded as anyone's call)."""
        response = self.clients.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        if "FunctionError" in response:
            raise RuntimeError(f"{function} failed: {payload}")
        return payload

    # ------------------------------------------------------------ the API (bridge 7)

    def api(
        self,
        method: str,
        resource: str,
        *,
        caller: str | None = DEFAULT_CALLER,
        path: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One request to the deployed api function, as API Gateway's proxy integration sends it."""
        context: dict[str, Any] = {"requestId": str(uuid.uuid4()), "identity": {"userArn": caller}}
        event = {
            "httpMethod": method,
            "resource": resource,
            "pathParameters": dict(path or {}),
            "headers": dict(headers or {}),
            "body": body if body is None or isinstance(body, str) else json.dumps(body),
            "requestContext": context,
        }
        answer = self.invoke(self.function(kind="api"), event)
        return int(answer["statusCode"]), json.loads(answer["body"])

    def start(
        self, workflow: str, run_input: Any, *, caller: str = DEFAULT_CALLER, idempotency_key: str | None = None
    ) -> str:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        status, started = self.api(
            "POST",
            "/workflows/{name}/runs",
            caller=caller,
            path={"name": workflow},
            body={"input": run_input},
            headers=headers,
        )
        if status != 202:
            raise AssertionError(f"POST /workflows/{workflow}/runs answered {status}: {started}")
        return str(started["run_id"])

    def execution_arn(self, run_id: str) -> str:
        machine = self.state_machines[keys.workflow_of(run_id)]
        return machine.replace(":stateMachine:", ":execution:") + f":{run_id}"

    def wait(self, run_id: str, *, caller: str = DEFAULT_CALLER, timeout_seconds: float = 60) -> dict[str, Any]:
        """Until the run's execution ends; then deliver what AWS would (rules, stream), and GET the run."""
        sfn = self.clients.client("stepfunctions")
        execution_arn = self.execution_arn(run_id)
        deadline = time.monotonic() + timeout_seconds
        while (execution := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still running after {timeout_seconds} s")
            time.sleep(0.02)
        if execution["status"] in ABNORMAL_END and self._standard(execution["stateMachineArn"]):
            self.publish(execution_status_event(execution))
        self.poll_streams()
        status, run = self.api("GET", "/runs/{run_id}", caller=caller, path={"run_id": run_id})
        if status != 200:
            raise AssertionError(f"GET /runs/{run_id} answered {status}: {run}")
        return run

    def run(self, workflow: str, run_input: Any, *, caller: str = DEFAULT_CALLER) -> dict[str, Any]:
        return self.wait(self.start(workflow, run_input, caller=caller), caller=caller)

    # ------------------------------------------------------------ EventBridge to Lambda (bridge 6)

    def _standard(self, state_machine_arn: str) -> bool:
        """Only Standard workflows send execution status changes to EventBridge; Express ones send none."""
        machine = self.clients.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine_arn)
        return str(machine.get("type", "STANDARD")) == "STANDARD"

    def publish(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver an event to the Lambda targets of every deployed rule whose pattern matches it."""
        events = self.clients.client("events")
        delivered = []
        for rule in events.list_rules()["Rules"]:
            # a scheduled rule (an Express workflow's sweep) matches no event: only its schedule fires it
            if "EventPattern" not in rule or not event_pattern(rule["EventPattern"])(event):
                continue
            for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                if ":lambda:" not in target["Arn"]:
                    raise NotImplementedError(f"rule {rule['Name']} targets {target['Arn']}: only Lambda is bridged")
                self.invoke(target["Arn"], event)
                delivered.append(Delivery(rule["Name"], target["Arn"], event))
        self.deliveries += delivered
        return delivered

    # ------------------------------------------------------------ stream event source mappings (bridge 5)

    def poll_streams(self) -> int:
        """Deliver the stream records written since the last poll to the mappings' functions; how many."""
        delivered = 0
        for mapping in self._mappings:
            streams = self._recording_clients(mapping.function).client("dynamodbstreams")
            streams.list_streams(TableName=mapping.stream_arn.split("/")[1])
            shards = streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                after = mapping.positions.get(shard["ShardId"])
                position: dict[str, str] = (
                    {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
                    if after
                    else {"ShardIteratorType": "TRIM_HORIZON"}
                )
                iterator = streams.get_shard_iterator(
                    StreamArn=mapping.stream_arn, ShardId=shard["ShardId"], **position
                )
                records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
                if not records:
                    continue
                mapping.positions[shard["ShardId"]] = records[-1]["dynamodb"]["SequenceNumber"]
                events = [_lambda_stream_record(r, mapping.stream_arn) for r in records]
                selected = [e for e in events if any(matches(e) for matches in mapping.patterns)]
                for start in range(0, len(selected), mapping.batch_size):
                    self.invoke(mapping.function, {"Records": selected[start : start + mapping.batch_size]})
                delivered += len(selected)
        return delivered

    # ------------------------------------------------------------ the state machines' own calls

    def state_machine_calls(self, execution_arn: str) -> list[Call]:
        """The service calls an execution made (its TaskScheduled events), as its state machine's calls."""
        sfn = self.clients.client("stepfunctions")
        machine = sfn.describe_execution(executionArn=execution_arn)["stateMachineArn"]
        calls = []
        token = None
        while True:
            page = sfn.get_execution_history(executionArn=execution_arn, **({"nextToken": token} if token else {}))
            for event in page["events"]:
                details = event.get("taskScheduledEventDetails")
                if details:
                    operation = details["resource"][:1].upper() + details["resource"][1:]
                    calls.append(Call(machine, details["resourceType"], operation, json.loads(details["parameters"])))
            token = page.get("nextToken")
            if not token:
                return calls

    # ------------------------------------------------------------ recording

    def _recording_clients(self, function: str) -> AwsClients:
        def observe(service: str, operation: str, params: dict[str, Any]) -> None:
            with self._lock:
                self.calls.append(Call(function, service, operation, json.loads(json.dumps(params, default=repr))))

        return AwsClients(self.session, observer=observe)

    @contextmanager
    def swapped(
        self,
        function: str,
        *,
        environment: Mapping[str, str] | None = None,
        wrap: Callable[[moto_patches.Handler], moto_patches.Handler] | None = None,
    ) -> Iterator[None]:
        """Within the block, the function runs other code under the same name and role: its handler built
        with `environment` over its deployed one (another catalog: another agent implementation), and/or
        wrapped (a fault). Its calls are still recorded as its own."""
        config = self.functions[function]
        variables = {**config["Environment"]["Variables"], **(environment or {})}
        self._register(function, {**config, "Environment": {"Variables": variables}}, wrap)
        try:
            yield
        finally:
            self._register(function, config)

    def _register(
        self,
        function: str,
        config: dict[str, Any],
        wrap: Callable[[moto_patches.Handler], moto_patches.Handler] | None = None,
    ) -> None:
        env = dict(config["Environment"]["Variables"])
        handler = in_process_handler(config["Handler"], env, self._recording_clients(function), self.http)
        if wrap is not None:
            handler = wrap(handler)

        def run(event: dict[str, Any]) -> Any:
            stack: list[str] = getattr(_current, "functions", [])
            _current.functions = [*stack, function]
            with self._lock:
                self.invocations[function] = self.invocations.get(function, 0) + 1
            try:
                return handler(event)
            finally:
                _current.functions = stack

        moto_patches.register(function, run)


def event_pattern(pattern: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """An EventBridge event pattern (JSON) as a predicate on events, by moto's matcher. Lambda's event filters
    use the same syntax."""
    matcher = EventPattern.load(pattern)
    return lambda event: bool(matcher.matches_event(cast(Any, event)))


def execution_status_event(execution: Mapping[str, Any]) -> dict[str, Any]:
    """The event AWS Step Functions sends to EventBridge when an execution's status changes."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE,
        "source": "aws.states",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
        },
    }


# ---------------------------------------------------------------- deploying


@contextmanager
def deploy(synthesized: Synthesized, *, run_fixtures: bool = True) -> Iterator[Deployment]:
    """Deploy the template into moto (bridges 1-5), register every function's in-process handler, run the
    workflows' offline fixtures; tear everything down on exit."""
    saved = {key: os.environ.get(key) for key in _FAKE_ENV}
    os.environ.update(_FAKE_ENV)
    try:
        with mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
            moto_patches.install()
            try:
                deployment = Deployment(synthesized, boto3.Session(region_name=REGION), synthesized.stack_name)
                _deploy(deployment)
                if run_fixtures:
                    for workflow in deployment.catalog.workflows.values():
                        if workflow.offline_fixture:
                            deployment.fixtures[workflow.name] = resolve(workflow.offline_fixture)(deployment)
                yield deployment
            finally:
                moto_patches.uninstall()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _deploy(deployment: Deployment) -> None:
    synthesized, clients = deployment.synthesized, deployment.clients
    _upload_assets(synthesized.outdir, deployment.stack_name, clients.client("s3"))
    clients.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
    template = json.loads(json.dumps(synthesized.template))
    values, mappings = _create_outside_the_stack(template, deployment.stack_name, clients)
    template = _replace_references(template, values)

    cloudformation = clients.client("cloudformation")
    cloudformation.create_stack(
        StackName=deployment.stack_name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=deployment.stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"moto could not create the stack: {stack.get('StackStatusReason')}")
    deployment.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=deployment.stack_name):
        for summary in page["StackResourceSummaries"]:
            deployment.physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    for logical_id, created in values.items():
        if "Ref" in created:
            deployment.physical[logical_id] = created["Ref"]

    # bridge 4: the state machines, through the executing API, from their definition assets
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            _create_state_machine(deployment, logical_id, resource["Properties"])

    lambda_client = clients.client("lambda")
    for page in lambda_client.get_paginator("list_functions").paginate():
        for config in page["Functions"]:
            deployment.functions[config["FunctionName"]] = config
    for config in deployment.functions.values():
        variables = config["Environment"]["Variables"]
        deployment.physical_ids |= json.loads(variables.get("BATON_RESOURCES", "{}"))
    deployment.state_machines = json.loads(
        deployment.functions[deployment.function(kind="api")]["Environment"]["Variables"]["BATON_STATE_MACHINES"]
    )
    for name, config in deployment.functions.items():
        deployment._register(name, config)

    # bridge 5: the stream mappings, played by Deployment.poll_streams
    for properties in mappings:
        stream_arn = _resolve(properties["EventSourceArn"], deployment)
        patterns = [event_pattern(f["Pattern"]) for f in properties.get("FilterCriteria", {}).get("Filters", [])]
        deployment._mappings.append(
            _Mapping(
                function=_resolve(properties["FunctionName"], deployment).rsplit(":", 1)[-1],
                stream_arn=stream_arn,
                batch_size=int(properties.get("BatchSize", 100)),
                patterns=patterns or [event_pattern(None)],
            )
        )


def _create_outside_the_stack(
    template: dict[str, Any], stack_name: str, clients: AwsClients
) -> tuple[dict[str, dict[str, str]], list[dict[str, Any]]]:
    """Bridges 1, 2, 3 and 5: create what moto's CloudFormation cannot, drop it from the template.

    Returns the value of each dropped resource's Ref and attributes, and the dropped stream mappings."""
    values: dict[str, dict[str, str]] = {}
    mappings: list[dict[str, Any]] = []
    resources = template["Resources"]
    for logical_id, resource in list(resources.items()):
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::SecretsManager::Secret":
            value = secrets.token_urlsafe(24)
            generate = properties.get("GenerateSecretString", {})
            if "SecretStringTemplate" in generate:  # a JSON secret (OAuth client credentials): its template, filled
                shape = json.loads(generate["SecretStringTemplate"])
                value = json.dumps(shape | {generate["GenerateStringKey"]: value})
            secretsmanager = clients.client("secretsmanager")
            arn = secretsmanager.create_secret(Name=f"{stack_name}-{logical_id}", SecretString=value)["ARN"]
            values[logical_id] = {"Ref": arn}
        elif kind == "AWS::KMS::Key":
            policy = _resolve_pseudo(properties["KeyPolicy"], stack_name)
            metadata = clients.client("kms").create_key(
                Policy=json.dumps(policy),
                KeyUsage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
                KeySpec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
                Description=properties.get("Description", ""),
            )["KeyMetadata"]
            values[logical_id] = {"Ref": metadata["KeyId"], "Arn": metadata["Arn"]}
        elif kind == "AWS::S3::Bucket" and properties.get("ObjectLockEnabled"):
            s3 = clients.client("s3")
            name = f"{stack_name}-{logical_id}-{secrets.token_hex(4)}".lower()[:63]
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
            if "VersioningConfiguration" in properties:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
            if "ObjectLockConfiguration" in properties:
                s3.put_object_lock_configuration(
                    Bucket=name, ObjectLockConfiguration=_object_lock(properties["ObjectLockConfiguration"])
                )
            values[logical_id] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        elif kind == "AWS::Lambda::EventSourceMapping":
            mappings.append(properties)
            values[logical_id] = {}
        else:
            continue
        del resources[logical_id]
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends is not None:
            resource["DependsOn"] = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in values]
    return values, mappings


def _object_lock(configuration: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ObjectLockConfiguration in the API's shape (the same, with integer periods)."""
    rule = configuration.get("Rule", {}).get("DefaultRetention")
    result: dict[str, Any] = {"ObjectLockEnabled": configuration["ObjectLockEnabled"]}
    if rule:
        result["Rule"] = {"DefaultRetention": {k: int(v) if k in ("Days", "Years") else v for k, v in rule.items()}}
    return result


def _replace_references(value: Any, values: dict[str, dict[str, str]]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in values:
            return values[value["Ref"]]["Ref"]
        if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in values:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute not in values[logical_id]:
                raise NotImplementedError(f"the bridge of {logical_id} does not provide its {attribute}")
            return values[logical_id][attribute]
        return {k: _replace_references(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_references(v, values) for v in value]
    return value


def _resolve_pseudo(value: Any, stack_name: str) -> Any:
    """Ref to pseudo parameters and Fn::Join over them: all a bridged resource's properties use."""
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::StackName": stack_name}
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return pseudo[value["Ref"]]
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(str(_resolve_pseudo(p, stack_name)) for p in parts)
        if any(key.startswith("Fn::") for key in value):
            raise NotImplementedError(f"cannot resolve {value!r} outside CloudFormation")
        return {k: _resolve_pseudo(v, stack_name) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_pseudo(v, stack_name) for v in value]
    return value


def _resolve(value: Any, deployment: Deployment) -> str:
    """Ref and Fn::GetAtt (Arn, StreamArn) against the deployed stack."""
    physical, clients = deployment.physical, deployment.clients
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return physical[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        kind = deployment.synthesized.template["Resources"][logical_id]["Type"]
        name = physical[logical_id]
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return str(clients.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return str(clients.client("iam").get_role(RoleName=name)["Role"]["Arn"])
        if kind == "AWS::DynamoDB::Table" and attribute in ("Arn", "StreamArn"):
            table = clients.client("dynamodb").describe_table(TableName=name)["Table"]
            return str(table["TableArn"] if attribute == "Arn" else table["LatestStreamArn"])
    raise NotImplementedError(f"cannot resolve {value!r}")


def _create_state_machine(deployment: Deployment, logical_id: str, properties: dict[str, Any]) -> None:
    s3, sfn = deployment.clients.client("s3"), deployment.clients.client("stepfunctions")
    key = properties["DefinitionS3Location"]["Key"]
    definition = s3.get_object(Bucket=ASSETS_BUCKET, Key=key)["Body"].read().decode()
    substitutions = {k: _resolve(v, deployment) for k, v in properties.get("DefinitionSubstitutions", {}).items()}
    sfn.create_state_machine(
        name=deployment.physical[logical_id].rsplit(":", 1)[-1],
        definition=render_definition_text(definition, substitutions),
        roleArn=_resolve(properties["RoleArn"], deployment),
        type=properties.get("StateMachineType", "STANDARD"),
    )


def _upload_assets(outdir: Path, stack_name: str, s3: Any) -> None:
    s3.create_bucket(Bucket=ASSETS_BUCKET)
    manifest = json.loads((outdir / f"{stack_name}.assets.json").read_text())
    for asset in manifest["files"].values():
        source = outdir / asset["source"]["path"]
        body = _zip(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            s3.put_object(Bucket=ASSETS_BUCKET, Key=destination["objectKey"], Body=body)


def _zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def _document(document: Any) -> dict[str, Any]:
    """A role policy as moto returns it: a dict, JSON, or (for CloudFormation-created roles) a dict's repr."""
    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        parsed: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        parsed = ast.literal_eval(text)
    return parsed


def _lambda_stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as Lambda hands it to the function (epoch seconds, the source ARN)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", REGION),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


__all__ = [
    "ACCOUNT",
    "DEFAULT_CALLER",
    "REGION",
    "Call",
    "Delivery",
    "Deployment",
    "Synthesized",
    "deploy",
    "event_pattern",
    "execution_status_event",
    "synthesize",
]
