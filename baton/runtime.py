"""Builds the components each Lambda function runs, from its settings and injected clients.

Lambda handlers call these with the process environment; the offline engine calls them with each
function's own environment and the moto-backed clients. Nothing else differs.

Each `build_*` imports what its own function runs, and only that: a function's cold start pays for its own
modules, never for another function's (the orchestrator's store and audit chain are no agent's business,
nor is the archiver's IAM-derived key prefix anyone else's).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from baton.agent_runner import AgentRunner
    from baton.approvals import ApprovalDesk, Notifier
    from baton.archive import AuditArchiver
    from baton.aws import AwsClients
    from baton.catalog import WorkflowSpec
    from baton.http import HttpRequest, HttpResponse, HttpTransport, PinnedTransport
    from baton.orchestrator import Orchestrator
    from baton.runs import RunStarter
    from baton.state import DynamoStateStore
    from baton.triggers import EventStarter


def build_orchestrator(env: Mapping[str, str], clients: AwsClients) -> Orchestrator:
    from baton.config import catalog_from_env
    from baton.detection import detector_for
    from baton.orchestrator import Orchestrator
    from baton.planner import PlannerServices, load_planner
    from baton.settings import Settings, SettingsError
    from baton.signing import KmsHeadSigner
    from baton.state import DynamoStateStore

    settings = Settings.from_env(env)
    catalog = catalog_from_env(env)
    if settings.workflow is None:
        raise SettingsError("the orchestrator needs BATON_WORKFLOW")
    if settings.audit_key is None:
        raise SettingsError("the orchestrator needs BATON_AUDIT_KEY (the workflow's audit signing key)")
    workflow = catalog.workflow(settings.workflow)
    # a model planner's client is made at its first model call: a rule planner's orchestrator never makes one
    services = PlannerServices(catalog, workflow, bedrock_runtime=lambda: clients.client("bedrock-runtime"))
    return Orchestrator(
        catalog=catalog,
        workflow=workflow,
        store=DynamoStateStore(clients.client("dynamodb"), settings.state_table),
        planner=load_planner(workflow, services),
        agent_functions=settings.agent_functions,
        signer=KmsHeadSigner(clients.client("kms"), settings.audit_key),
        services=services,
        # a guardrail detector's client is made at its first scan, like a model planner's
        detector=detector_for(workflow.injection_detector, lambda: clients.client("bedrock-runtime")),
        notifier=_notifier(workflow, settings.resources, clients),
        child_machines={name: settings.child_state_machines.get(name, "") for name in workflow.children},
    )


def _notifier(workflow: WorkflowSpec, resources: Mapping[str, str], clients: AwsClients) -> Notifier:
    """What tells the workflow's approvers: its declared queue or topic (a client made at the first message)."""
    from baton.approvals import Notifier
    from baton.catalog import ResourceKind
    from baton.settings import SettingsError

    target = workflow.approvals.notify if workflow.approvals is not None else None
    if target is None:
        return Notifier(None, None)
    if target.name not in resources:
        raise SettingsError(f"the orchestrator needs the physical id of {target.name!r} in BATON_RESOURCES")
    if target.kind is ResourceKind.QUEUE:
        return Notifier("queue", resources[target.name], lambda: clients.client("sqs"))
    return Notifier("topic", resources[target.name], lambda: clients.client("sns"))


def build_agent_runner(
    env: Mapping[str, str], clients: AwsClients, http_transport: HttpTransport | None = None
) -> AgentRunner:
    from baton.agent_runner import AgentRunner
    from baton.catalog import ToolSpec
    from baton.config import catalog_from_env
    from baton.secrets import SecretsBroker
    from baton.settings import Settings, SettingsError
    from baton.tools import ToolContext

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
    transport = http_transport or _NetworkOnFirstRequest()
    tools = catalog.tools_of(agent)
    # one token cache and one session cache per function: shared by every call of its tools; an agent none of whose
    # tools authenticates that way never loads baton.credentials
    tokens = sessions = None
    if any(tool.oauth is not None for tool in tools):
        from baton.credentials import TokenBroker

        tokens = TokenBroker(broker, transport)
    if any(tool.session is not None for tool in tools):
        from baton.credentials import SessionBroker

        sessions = SessionBroker(lambda: clients.client("sts"), settings.session_roles, settings.resource_arns)

    def make_context(tool: ToolSpec, run_id: str) -> ToolContext:
        return ToolContext(
            tool, run_id, settings.resources, clients, broker, transport, tokens=tokens, sessions=sessions
        )

    if agent.model is None:
        return AgentRunner(catalog, agent, make_context)
    # a model-backed agent's client is made at its first model call
    return AgentRunner(catalog, agent, make_context, bedrock_runtime=lambda: clients.client("bedrock-runtime"))


class _NetworkOnFirstRequest:
    """The real network (PinnedTransport), made at the first request a tool sends.

    Making it loads the system's CA certificates (an SSL context: file reads, ~15 ms): an agent whose tools
    never reach outside the account never pays for it.
    """

    def __init__(self) -> None:
        self._transport: PinnedTransport | None = None
        self._lock = threading.Lock()

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        with self._lock:
            if self._transport is None:
                from baton.http import PinnedTransport

                self._transport = PinnedTransport()
        return self._transport.send(request, timeout_seconds)


class ApiServices(NamedTuple):  # not a dataclass: every function imports this module, and a dataclass is built by exec
    workflows: Mapping[str, WorkflowSpec]  # baton.config.WorkflowDirectory: each loaded at the first request naming it
    starter: RunStarter
    store: DynamoStateStore
    desk: ApprovalDesk | None = None  # decides approvals (baton.approvals)


def build_api(env: Mapping[str, str], clients: AwsClients) -> ApiServices:
    from baton.approvals import ApprovalDesk
    from baton.config import WorkflowDirectory
    from baton.runs import ExecutionStarter, RunStarter
    from baton.settings import ENV_WORKFLOW_CATALOGS, Settings, SettingsError
    from baton.state import DynamoStateStore

    settings = Settings.from_env(env)
    if not settings.workflow_catalogs:
        raise SettingsError(f"the api needs {ENV_WORKFLOW_CATALOGS}")
    workflows = WorkflowDirectory(settings.workflow_catalogs)
    store = DynamoStateStore(clients.client("dynamodb"), settings.state_table)
    executions = ExecutionStarter(clients.client("stepfunctions"), settings.state_machines)
    desk = ApprovalDesk(store, clients.client("stepfunctions"))
    return ApiServices(workflows, RunStarter(workflows, store, executions), store, desk)


def build_archiver(env: Mapping[str, str], clients: AwsClients) -> AuditArchiver:
    from baton.archive import AuditArchiver
    from baton.settings import Settings, SettingsError

    settings = Settings.from_env(env)
    if settings.archive_bucket is None:
        raise SettingsError("the archiver needs BATON_ARCHIVE_BUCKET")
    return AuditArchiver(clients.client("s3"), settings.archive_bucket)


def build_starter(env: Mapping[str, str], clients: AwsClients) -> EventStarter:
    """A subscribing workflow's starter function (baton.triggers): the API's run starter, for that workflow only."""
    from baton.config import catalog_from_env
    from baton.runs import ExecutionStarter, RunStarter
    from baton.settings import Settings, SettingsError
    from baton.state import DynamoStateStore
    from baton.triggers import EventStarter

    settings = Settings.from_env(env)
    if settings.workflow is None:
        raise SettingsError("the starter needs BATON_WORKFLOW")
    catalog = catalog_from_env(env)
    store = DynamoStateStore(clients.client("dynamodb"), settings.state_table)
    executions = ExecutionStarter(clients.client("stepfunctions"), settings.state_machines)
    return EventStarter(catalog.workflow(settings.workflow), RunStarter(catalog.workflows, store, executions))
