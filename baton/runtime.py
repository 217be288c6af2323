"""Builds the components each Lambda function runs, from its settings and injected clients.

Lambda handlers call these with the process environment; the offline engine calls them with each
function's own environment and the moto-backed clients. Nothing else differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from baton.agent_runner import AgentRunner
from baton.archive import AuditArchiver
from baton.aws import AwsClients
from baton.catalog import Catalog, ToolSpec
from baton.config import catalog_from_env
from baton.http import HttpTransport, PinnedTransport
from baton.orchestrator import Orchestrator
from baton.planner import load_planner
from baton.runs import ExecutionStarter, RunStarter
from baton.secrets import SecretsBroker
from baton.settings import Settings, SettingsError
from baton.signing import KmsHeadSigner
from baton.state import DynamoStateStore
from baton.tools import ToolContext


def build_orchestrator(env: Mapping[str, str], clients: AwsClients) -> Orchestrator:
    settings = Settings.from_env(env)
    catalog = catalog_from_env(env)
    if settings.workflow is None:
        raise SettingsError("the orchestrator needs BATON_WORKFLOW")
    if settings.audit_key is None:
        raise SettingsError("the orchestrator needs BATON_AUDIT_KEY (the workflow's audit signing key)")
    workflow = catalog.workflow(settings.workflow)
    return Orchestrator(
        catalog=catalog,
        workflow=workflow,
        store=DynamoStateStore(clients.client("dynamodb"), settings.state_table),
        planner=load_planner(workflow),
        agent_functions=settings.agent_functions,
        signer=KmsHeadSigner(clients.client("kms"), settings.audit_key),
    )


def build_agent_runner(
    env: Mapping[str, str], clients: AwsClients, http_transport: HttpTransport | None = None
) -> AgentRunner:
    settings = Settings.from_env(env)
    catalog = catalog_from_env(env)
    if settings.agent is None:
        raise SettingsError("an agent function needs BATON_AGENT")
    agent = catalog.agent(settings.agent)
    secret_names = {s for tool in catalog.tools_of(agent) for s in tool.secrets}
    broker = SecretsBroker(
        lambda: clients.client("secretsmanager"),
        {name: settings.resources[name] for name in secret_names if name in settings.resources},
        settings.secrets_max_age_seconds,
    )
    transport = http_transport or PinnedTransport()

    def make_context(tool: ToolSpec, run_id: str) -> ToolContext:
        return ToolContext(tool, run_id, settings.resources, clients, broker, transport)

    return AgentRunner(catalog, agent, make_context)


@dataclass(frozen=True)
class ApiServices:
    catalog: Catalog
    starter: RunStarter
    store: DynamoStateStore


def build_api(env: Mapping[str, str], clients: AwsClients) -> ApiServices:
    settings = Settings.from_env(env)
    catalog = catalog_from_env(env)
    store = DynamoStateStore(clients.client("dynamodb"), settings.state_table)
    executions = ExecutionStarter(clients.client("stepfunctions"), settings.state_machines)
    return ApiServices(catalog, RunStarter(catalog, store, executions), store)


def build_archiver(env: Mapping[str, str], clients: AwsClients) -> AuditArchiver:
    settings = Settings.from_env(env)
    if settings.archive_bucket is None:
        raise SettingsError("the archiver needs BATON_ARCHIVE_BUCKET")
    return AuditArchiver(clients.client("s3"), settings.archive_bucket)
