"""Provisioning an app's catalog into moto, as the CDK stack provisions it on AWS.

The state table, the catalog's resources, one audit signing key per workflow (ECC P-256, sign/verify),
one function per agent and per workflow orchestrator with the environment CDK gives it, and one state
machine per workflow from the very definition CDK deploys.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton import keys
from baton.aws import AwsClients
from baton.catalog import AgentSpec, ResourceKind, ResourceSpec, WorkflowSpec
from baton.children import children_first
from baton.config import LoadedApp
from baton.http import HttpTransport
from baton.iam import session_role_name
from baton.local import moto_patches
from baton.local.functions import (
    AGENT_HANDLER,
    ORCHESTRATOR_HANDLER,
    STARTER_HANDLER,
    agent_function_name,
    in_process_handler,
    orchestrator_function_name,
    starter_function_name,
)
from baton.observability import logger
from baton.settings import Settings
from baton.statemachine import render_definition

STATE_TABLE = "baton-state"
# the stack name offline session roles are named under (baton.iam.session_role_name), as CDK names them
LOCAL_STACK = "baton-local"
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
    # the event-driven pattern (baton.triggers): each subscribing workflow's queue URL and dead-letter queue URL
    trigger_queues: dict[str, str] = field(default_factory=dict)
    dead_letter_queues: dict[str, str] = field(default_factory=dict)


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
            session_roles, resource_arns = self._sessions(agent, role_arn, deployment)
            settings = Settings(
                state_table=STATE_TABLE,
                catalog=self._app.source_of_agent(agent.name),
                agent=agent.name,
                resources=resource_ids,
                session_roles=session_roles,
                resource_arns=resource_arns,
            )
            name = agent_function_name(agent.name)
            agent_functions[agent.name] = self._deploy(deployment, name, AGENT_HANDLER, role_arn, settings)
        sfn = self._clients.client("stepfunctions")
        for workflow in children_first(catalog.workflows):
            deployment.audit_keys[workflow.name] = create_audit_key(self._clients.client("kms"), workflow.name)
            settings = Settings(
                state_table=STATE_TABLE,
                catalog=self._app.source_of_workflow(workflow.name),
                workflow=workflow.name,
                agent_functions={a: agent_functions[a] for a in workflow.agents},
                audit_key=deployment.audit_keys[workflow.name],
                resources=_notify_resource(workflow, deployment.physical_ids),
                # the child workflows' state machines (baton.children), provisioned before their parents
                child_state_machines={child: deployment.state_machines[child] for child in workflow.children},
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
        for workflow in catalog.workflows.values():
            if workflow.triggers:
                self._subscribe(deployment, workflow, role_arn)
        return deployment

    def _subscribe(self, deployment: Deployment, workflow: WorkflowSpec, role_arn: str) -> None:
        """A subscribing workflow's rule, queue (redrive to its dead-letter queue; only the rule may send) and starter
        function, as CDK derives them (infra/constructs/event_triggers.py). Offline the queue's visibility timeout is
        0, so a record the starter fails is received again at once (on AWS: after the visibility timeout)."""
        from baton.triggers import rule_name

        trigger = workflow.triggers[0]
        sqs, events = self._clients.client("sqs"), self._clients.client("events")
        dlq_url = sqs.create_queue(QueueName=f"baton-trigger-{workflow.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(trigger.max_receive_count)}
        queue_url = sqs.create_queue(
            QueueName=f"baton-trigger-{workflow.name}",
            Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "0"},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule_arn = events.put_rule(
            Name=rule_name(workflow.name),
            EventBusName=deployment.physical_ids[trigger.bus],
            EventPattern=json.dumps(trigger.pattern),
        )["RuleArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(
            Rule=rule_name(workflow.name),
            EventBusName=deployment.physical_ids[trigger.bus],
            Targets=[{"Id": "queue", "Arn": queue_arn}],
        )
        settings = Settings(
            state_table=STATE_TABLE,
            catalog=self._app.source_of_workflow(workflow.name),
            workflow=workflow.name,
            state_machines={workflow.name: deployment.state_machines[workflow.name]},
        )
        self._deploy(deployment, starter_function_name(workflow.name), STARTER_HANDLER, role_arn, settings)
        deployment.trigger_queues[workflow.name] = queue_url
        deployment.dead_letter_queues[workflow.name] = dlq_url

    def _sessions(
        self, agent: AgentSpec, role_arn: str, deployment: Deployment
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The session role of each of the agent's tools declaring an STS session (named as CDK names it; moto's STS
        needs no role to exist) and the ARN of each resource their session policies name."""
        account = role_arn.split(":")[4]
        roles: dict[str, str] = {}
        arns: dict[str, str] = {}
        for tool in self._app.catalog.tools_of(agent):
            if tool.session is None:
                continue
            roles[tool.name] = f"arn:aws:iam::{account}:role/{session_role_name(LOCAL_STACK, tool.name)}"
            table = deployment.physical_ids[tool.session.resource.name]
            arns[tool.session.resource.name] = self._clients.client("dynamodb").describe_table(TableName=table)[
                "Table"
            ]["TableArn"]
        return roles, arns

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
            value = secrets.token_urlsafe(24)
            if any(tool.oauth is not None and tool.oauth.secret == name for tool in self._app.catalog.tools.values()):
                # OAuth client credentials (baton.credentials): a client id and a client secret. Both are random: the
                # redactor masks every 8-character piece of each, so a readable id would mask ordinary words
                value = json.dumps({"client_id": secrets.token_hex(8), "client_secret": value})
            created = self._clients.client("secretsmanager").create_secret(Name=name, SecretString=value)
            return str(created["ARN"])
        if resource.kind is ResourceKind.QUEUE:
            return str(self._clients.client("sqs").create_queue(QueueName=name)["QueueUrl"])
        if resource.kind is ResourceKind.TOPIC:
            return str(self._clients.client("sns").create_topic(Name=name)["TopicArn"])
        if resource.kind is ResourceKind.EVENT_BUS:  # its physical id is its ARN (PutEvents takes either)
            return str(self._clients.client("events").create_event_bus(Name=name)["EventBusArn"])
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
