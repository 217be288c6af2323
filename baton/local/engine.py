"""LocalEngine: the whole deployment, offline, in one process.

moto plays DynamoDB, Secrets Manager, SSM, SQS, SNS, STS, Lambda and Step Functions. moto's Step
Functions interpreter executes statemachines/orchestration.asl.json itself; when it invokes a function,
the real handler of that orchestrator or agent runs in-process with that function's own environment and
its own boto3 session (whose AWS calls are recorded, to compare with the IAM derived for the agent).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws

from baton.api import handle_request
from baton.aws import AwsClients
from baton.catalog import ResourceKind, ResourceSpec, resolve
from baton.config import AppConfig, app_config, load_app
from baton.functions.agent import handler as agent_handler
from baton.functions.orchestrator import handler as orchestrator_handler
from baton.http import HttpTransport
from baton.local import moto_patches
from baton.local.http import LocalHttpTransport
from baton.models import RunStatus, TaskOutcome
from baton.runs import RunRecord, read_run
from baton.runtime import build_agent_runner, build_orchestrator, build_run_starter
from baton.settings import Settings
from baton.statemachine import render_definition

AGENT_HANDLER = "baton.functions.agent.handler.handler"
ORCHESTRATOR_HANDLER = "baton.functions.orchestrator.handler.handler"
API_HANDLER = "baton.functions.api.handler.handler"
REGION = "us-east-1"
STATE_TABLE = "baton-state"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


@dataclass(frozen=True)
class AwsCall:
    function: str
    service: str
    operation: str


@dataclass(frozen=True)
class AwsCallDetail:
    """One AWS call a function made, with its request parameters and parsed response (for measurement)."""

    function: str
    service: str
    operation: str
    params: dict[str, Any]
    response: dict[str, Any]


CallHook = Callable[[AwsCallDetail], None]


def create_state_table(ddb: Any, name: str) -> None:
    """The state table as the infrastructure defines it: pk/sk strings, on demand, TTL on expires_at."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


def in_process_handler(
    handler_path: str, env: dict[str, str], clients: AwsClients, http: HttpTransport
) -> moto_patches.Handler:
    """What a deployed function with this Lambda handler and environment runs, built to run in-process."""
    if handler_path == AGENT_HANDLER:
        runner = build_agent_runner(env, clients, http)
        return lambda event: agent_handler.handle(event, runner)
    if handler_path == ORCHESTRATOR_HANDLER:
        orchestrator = build_orchestrator(env, clients)
        return lambda event: orchestrator_handler.handle(event, orchestrator)
    if handler_path == API_HANDLER:
        starter, store = build_run_starter(env, clients)
        return lambda event: handle_request(event, starter, store)
    raise ValueError(f"no in-process handler for {handler_path!r}")


def agent_function_name(agent: str) -> str:
    return f"baton-agent-{agent}".replace("_", "-")


def orchestrator_function_name(workflow: str) -> str:
    return f"baton-orchestrator-{workflow}".replace("_", "-")


class LocalEngine:
    """Context manager: provisions the catalog in moto on enter, tears everything down on exit."""

    def __init__(
        self,
        catalog: str | AppConfig | None = None,
        wrap_handler: Callable[[str, moto_patches.Handler], moto_patches.Handler] | None = None,
        on_call: CallHook | None = None,
    ) -> None:
        config = catalog if isinstance(catalog, AppConfig) else app_config(catalog)
        self.app = load_app(config)
        self.catalog = self.app.catalog
        self.http = LocalHttpTransport()
        self.physical_ids: dict[str, str] = {}
        self.state_machines: dict[str, str] = {}
        self.fixtures: dict[str, Any] = {}
        self.aws_calls: list[AwsCall] = []
        self._calls_lock = threading.Lock()
        self._wrap = wrap_handler or (lambda _name, handler: handler)
        self._on_call = on_call
        self._saved_env: dict[str, str | None] = {}
        self._mock: Any = None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalEngine:
        for key, value in _FAKE_ENV.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._mock = mock_aws(config=_MOTO_CONFIG)  # type: ignore[call-overload]
        self._mock.start()
        moto_patches.install()
        # moto's interpreter logs each failed state with a stack dump; the run record tells the story
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        try:
            self._session = boto3.Session(region_name=REGION)
            self.clients = AwsClients(self._session)
            self._provision()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        moto_patches.uninstall()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, old in self._saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

    # ------------------------------------------------------------ provisioning from the catalog

    def _provision(self) -> None:
        create_state_table(self.clients.client("dynamodb"), STATE_TABLE)
        for resource in self.catalog.resources.values():
            self.physical_ids[resource.name] = self._create_resource(resource)
        iam = self.clients.client("iam")
        role_arn = iam.create_role(RoleName="baton-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        agent_functions: dict[str, str] = {}
        for agent in self.catalog.agents.values():
            resource_ids = {r.name: self.physical_ids[r.name] for r in self.catalog.resources_of(agent)}
            catalog = self.app.source_of_agent(agent.name)
            env = Settings(state_table=STATE_TABLE, catalog=catalog, agent=agent.name, resources=resource_ids).to_env()
            name = agent_function_name(agent.name)
            agent_functions[agent.name] = self._deploy_function(name, AGENT_HANDLER, role_arn, env)
        sfn = self.clients.client("stepfunctions")
        for workflow in self.catalog.workflows.values():
            functions = {a: agent_functions[a] for a in workflow.agents}
            catalog = self.app.source_of_workflow(workflow.name)
            env = Settings(
                state_table=STATE_TABLE, catalog=catalog, workflow=workflow.name, agent_functions=functions
            ).to_env()
            name = orchestrator_function_name(workflow.name)
            arn = self._deploy_function(name, ORCHESTRATOR_HANDLER, role_arn, env)
            definition = render_definition({"OrchestratorFunctionArn": arn, "StateTableName": STATE_TABLE})
            self.state_machines[workflow.name] = sfn.create_state_machine(
                name=f"baton-{workflow.name}".replace("_", "-"),
                definition=definition,
                roleArn=role_arn,
                type=workflow.execution.upper(),
            )["stateMachineArn"]
        api_env = Settings(
            state_table=STATE_TABLE, catalog=self.app.config.env_value, state_machines=self.state_machines
        ).to_env()
        self.starter, self.store = build_run_starter(api_env, self.clients)
        for workflow in self.catalog.workflows.values():
            if workflow.offline_fixture:
                self.fixtures[workflow.name] = resolve(workflow.offline_fixture)(self)

    def _create_resource(self, resource: ResourceSpec) -> str:
        name = resource.name
        if resource.kind is ResourceKind.TABLE:
            keys = [(resource.partition_key, "HASH")] + ([(resource.sort_key, "RANGE")] if resource.sort_key else [])
            self.clients.client("dynamodb").create_table(
                TableName=name,
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                BillingMode="PAY_PER_REQUEST",
            )
            return name
        if resource.kind is ResourceKind.SECRET:
            created = self.clients.client("secretsmanager").create_secret(
                Name=name, SecretString=secrets.token_urlsafe(24)
            )
            return str(created["ARN"])
        if resource.kind is ResourceKind.QUEUE:
            return str(self.clients.client("sqs").create_queue(QueueName=name)["QueueUrl"])
        if resource.kind is ResourceKind.TOPIC:
            return str(self.clients.client("sns").create_topic(Name=name)["TopicArn"])
        parameter = f"/baton/{name}"
        self.clients.client("ssm").put_parameter(Name=parameter, Value=resource.value or "", Type="String")
        return parameter

    def _deploy_function(self, name: str, handler_path: str, role_arn: str, env: dict[str, str]) -> str:
        """A moto Lambda function configured as CDK configures it, whose invocations run its real handler."""
        created = self.clients.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role_arn,
            Handler=handler_path,
            Code={"ZipFile": b"offline"},
            Environment={"Variables": env},
        )
        handler = in_process_handler(handler_path, env, self._recording_clients(name), self.http)
        moto_patches.register(name, self._wrap(name, handler))
        return str(created["FunctionArn"])

    def _recording_clients(self, function: str) -> AwsClients:
        def observe(service: str, operation: str, _params: dict[str, Any]) -> None:
            with self._calls_lock:
                self.aws_calls.append(AwsCall(function, service, operation))

        on_call = self._on_call
        if on_call is None:
            return AwsClients(self._session, observer=observe)

        def report(service: str, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
            on_call(AwsCallDetail(function, service, operation, params, response))

        return AwsClients(self._session, observer=observe, on_result=report)

    # ------------------------------------------------------------ running

    def start(self, workflow: str, run_input: Any, idempotency_key: str | None = None) -> str:
        return self.starter.start(workflow, run_input, idempotency_key).run_id

    def wait(
        self,
        run_id: str,
        timeout_seconds: float = 120,
        on_step: Callable[[TaskOutcome], None] | None = None,
    ) -> RunRecord:
        """Poll until the execution ends; report each step as the orchestrator records it."""
        sfn = self.clients.client("stepfunctions")
        workflow = self.store.load_meta(run_id).workflow
        execution_arn = self.state_machines[workflow].replace(":stateMachine:", ":execution:") + f":{run_id}"
        seen: set[tuple[int, int]] = set()
        deadline = time.monotonic() + timeout_seconds
        while True:
            execution = sfn.describe_execution(executionArn=execution_arn)
            if on_step is not None:
                for outcome in sorted(self.store.load_history(run_id), key=lambda o: (o.stage, o.index)):
                    if (outcome.stage, outcome.index) not in seen:
                        seen.add((outcome.stage, outcome.index))
                        on_step(outcome)
            if execution["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still running after {timeout_seconds} s")
            time.sleep(0.02)
        record = read_run(self.store, run_id)
        if record.status is RunStatus.RUNNING:
            # the execution ended without the orchestrator closing the run (an infrastructure failure)
            cause = execution.get("cause") or execution.get("error") or execution["status"]
            record = record.model_copy(update={"status": RunStatus.FAILED, "reason": f"execution ended: {cause}"})
        return record

    def run(self, workflow: str, run_input: Any, **wait_options: Any) -> RunRecord:
        return self.wait(self.start(workflow, run_input), **wait_options)

    def secret_value(self, name: str) -> str:
        """For fixtures that stand in for the other side of a secret (a fake provider checking its API key)."""
        value = self.clients.client("secretsmanager").get_secret_value(SecretId=self.physical_ids[name])
        return str(value["SecretString"])
