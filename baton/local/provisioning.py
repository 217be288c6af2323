"""Provisioning an app's catalog into moto, as the CDK stack provisions it on AWS.

The state table, the catalog's resources, one audit signing key per workflow (ECC P-256, sign/verify),
one function per agent and per workflow orchestrator with the environment CDK gives it, and one state
machine per workflow from the very definition CDK deploys.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton import keys
from baton.aws import AwsClients
from baton.catalog import ResourceKind, ResourceSpec, WorkflowSpec
from baton.config import LoadedApp
from baton.http import HttpTransport
from baton.local import moto_patches
from baton.local.functions import (
    AGENT_HANDLER,
    ORCHESTRATOR_HANDLER,
    agent_function_name,
    in_process_handler,
    orchestrator_function_name,
)
from baton.observability import logger
from baton.settings import Settings
from baton.statemachine import render_definition

STATE_TABLE = "baton-state"
HandlerWrapper = Callable[[str, moto_patches.Handler], moto_patches.Handler]


def create_state_table(ddb: Any, name: str) -> None:
    """The state table as the infrastructure defines it: pk/sk strings, on demand, TTL on expires_at, and the
    sparse open-runs index."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": keys.OPEN_WORKFLOW, "AttributeType": "S"},
            {"AttributeName": keys.OPEN_DEADLINE, "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": keys.OPEN_RUNS_INDEX,
                "KeySchema": [
                    {"AttributeName": keys.OPEN_WORKFLOW, "KeyType": "HASH"},
                    {"AttributeName": keys.OPEN_DEADLINE, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


def create_audit_key(kms: Any, workflow: str) -> str:
    """A workflow's audit signing key, as the stack declares it."""
    created = kms.create_key(
        Description=f"Baton audit heads of workflow {workflow}", KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256"
    )
    return str(created["KeyMetadata"]["Arn"])


@dataclass
class Deployment:
    """What provisioning made: physical ids of the catalog's resources, functions, state machines, keys."""

    physical_ids: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    audit_keys: dict[str, str] = field(default_factory=dict)
    functions: dict[str, dict[str, str]] = field(default_factory=dict)  # function name -> environment


def _notify_resource(workflow: WorkflowSpec, physical_ids: dict[str, str]) -> dict[str, str]:
    """The queue or topic an orchestrator tells its workflow's approvers through, as CDK configures it."""
    notify = workflow.approvals.notify if workflow.approvals is not None else None
    return {} if notify is None else {notify.name: physical_ids[notify.name]}


def _named(function: str, handler: moto_patches.Handler) -> moto_patches.Handler:
    """Every log line a function writes names it (`function_name`, the key Powertools sets on Lambda)."""

    def run(event: dict[str, Any]) -> Any:
        logger.thread_safe_append_keys(function_name=function)
        try:
            return handler(event)
        finally:
            logger.thread_safe_remove_keys(["function_name"])

    return run


class Provisioner:
    def __init__(
        self,
        app: LoadedApp,
        clients: AwsClients,
        function_clients: Callable[[str], AwsClients],
        http: HttpTransport,
        wrap: HandlerWrapper,
    ) -> None:
        self._app = app
        self._clients = clients
        self._function_clients = function_clients
        self._http = http
        self._wrap = wrap

    def provision(self) -> Deployment:
        catalog = self._app.catalog
        deployment = Deployment()
        create_state_table(self._clients.client("dynamodb"), STATE_TABLE)
        for resource in catalog.resources.values():
            deployment.physical_ids[resource.name] = self._create_resource(resource)
        role_arn = self._clients.client("iam").create_role(RoleName="baton-local", AssumeRolePolicyDocument="{}")[
            "Role"
        ]["Arn"]
        agent_functions: dict[str, str] = {}
        for agent in catalog.agents.values():
            resource_ids = {r.name: deployment.physical_ids[r.name] for r in catalog.resources_of(agent)}
            settings = Settings(
                state_table=STATE_TABLE,
                catalog=self._app.source_of_agent(agent.name),
                agent=agent.name,
                resources=resource_ids,
            )
            name = agent_function_name(agent.name)
            agent_functions[agent.name] = self._deploy(deployment, name, AGENT_HANDLER, role_arn, settings)
        sfn = self._clients.client("stepfunctions")
        for workflow in catalog.workflows.values():
            deployment.audit_keys[workflow.name] = create_audit_key(self._clients.client("kms"), workflow.name)
            settings = Settings(
                state_table=STATE_TABLE,
                catalog=self._app.source_of_workflow(workflow.name),
                workflow=workflow.name,
                agent_functions={a: agent_functions[a] for a in workflow.agents},
                audit_key=deployment.audit_keys[workflow.name],
                resources=_notify_resource(workflow, deployment.physical_ids),
            )
            name = orchestrator_function_name(workflow.name)
            arn = self._deploy(deployment, name, ORCHESTRATOR_HANDLER, role_arn, settings)
            definition = render_definition(
                {"OrchestratorFunctionArn": arn, "StateTableName": STATE_TABLE}, execution=workflow.execution
            )
            deployment.state_machines[workflow.name] = sfn.create_state_machine(
                name=f"baton-{workflow.name}",
                definition=definition,
                roleArn=role_arn,
                type=workflow.execution.upper(),
            )["stateMachineArn"]
        return deployment

    def _create_resource(self, resource: ResourceSpec) -> str:
        name = resource.name
        if resource.kind is ResourceKind.TABLE:
            keys = [(resource.partition_key, "HASH")] + ([(resource.sort_key, "RANGE")] if resource.sort_key else [])
            self._clients.client("dynamodb").create_table(
                TableName=name,
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
                BillingMode="PAY_PER_REQUEST",
            )
            return name
        if resource.kind is ResourceKind.SECRET:
            created = self._clients.client("secretsmanager").create_secret(
                Name=name, SecretString=secrets.token_urlsafe(24)
            )
            return str(created["ARN"])
        if resource.kind is ResourceKind.QUEUE:
            return str(self._clients.client("sqs").create_queue(QueueName=name)["QueueUrl"])
        if resource.kind is ResourceKind.TOPIC:
            return str(self._clients.client("sns").create_topic(Name=name)["TopicArn"])
        parameter = f"/baton/{name}"
        self._clients.client("ssm").put_parameter(Name=parameter, Value=resource.value or "", Type="String")
        return parameter

    def _deploy(self, deployment: Deployment, name: str, handler_path: str, role_arn: str, settings: Settings) -> str:
        """A moto Lambda function configured as CDK configures it, whose invocations run its real handler."""
        env = settings.to_env()
        created = self._clients.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role_arn,
            Handler=handler_path,
            Code={"ZipFile": b"offline"},
            Environment={"Variables": env},
        )
        handler = _named(name, in_process_handler(handler_path, env, self._function_clients(name), self._http))
        moto_patches.register(name, self._wrap(name, handler))
        deployment.functions[name] = env
        return str(created["FunctionArn"])
