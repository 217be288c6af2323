"""Builds the components each Lambda function runs, from its settings and injected clients.

Lambda handlers call these with the process environment; the offline engine calls them with each
function's own environment and the moto-backed clients. Nothing else differs.
"""

from __future__ import annotations

from collections.abc import Mapping

from baton.agent_runner import AgentRunner
from baton.aws import AwsClients
from baton.catalog import ToolSpec
from baton.config import catalog_from_env
from baton.http import HttpTransport, UrllibTransport
from baton.orchestrator import Orchestrator
from baton.planner import load_planner
from baton.runs import ExecutionStarter, RunStarter
from baton.secrets import SecretsBroker
from baton.settings import Settings, SettingsError
from baton.state import StateStore
from baton.tools import ToolContext


def build_orchestrator(env: Mapping[str, str], clients: AwsClients) -> Orchestrator:
    settings = Settings.from_env(env)
    catalog = catalog_from_env(env)
    if settings.workflow is None:
        raise SettingsError("the orchestrator needs BATON_WORKFLOW")
    workflow = catalog.workflow(settings.workflow)
    return Orchestrator(
        catalog=catalog,
        workflow=workflow,
        store=StateStore(clients.client("dynamodb"), settings.state_table),
        planner=load_planner(workflow),
        agent_functions=settings.agent_functions,
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
    transport = http_transport or UrllibTransport()

    def make_context(tool: ToolSpec, run_id: str) -> ToolContext:
        return ToolContext(tool, run_id, settings.resources, clients, broker, transport)

    return AgentRunner(catalog, agent, StateStore(clients.client("dynamodb"), settings.state_table), make_context)


def build_run_starter(env: Mapping[str, str], clients: AwsClients) -> tuple[RunStarter, StateStore]:
    settings = Settings.from_env(env)
    store = StateStore(clients.client("dynamodb"), settings.state_table)
    executions = ExecutionStarter(clients.client("stepfunctions"), settings.state_machines)
    return RunStarter(catalog_from_env(env), store, executions), store
