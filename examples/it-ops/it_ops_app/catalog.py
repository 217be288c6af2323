"""The it-ops workflows, declared once: infra derives IAM from this, the runtime enforces it.

The seed's hierarchical pattern: "a top-level orchestrator delegates to mid-level orchestrators, each managing
their own team of specialized agents". The top-level workflow `it-ops` routes an incident to the network, identity
and application sub-workflows, each a workflow of its own (its own agents, planner, orchestrator and state machine),
declared as its children: its planner delegates to one by naming it as a task's agent, and each such task runs as a
child execution (states:startExecution.sync:2) whose run carries `parent_run_id`, the caller's identity and a budget
drawn from the parent's (baton.children). The router's state machine may start exactly these three.

Trust. The incident's id, service and symptoms are constrained and trusted; its description is free text, untrusted,
and nobody reads it. Every tool reads or writes one of the app's own resources (trusted output).
"""

from __future__ import annotations

from baton.catalog import (
    AgentSpec,
    Budgets,
    Catalog,
    Grant,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from it_ops_app import models
from it_ops_app.names import (
    DIRECTORY_SYNC,
    NETWORK_LINKS,
    NETWORK_TICKETS,
    ONCALL_PAGES,
    RESTART_REQUESTS,
    SERVICE_HEALTH,
)

RESOURCES = [
    ResourceSpec(
        kind=ResourceKind.TABLE, name=NETWORK_LINKS, description="link status by service", partition_key="service"
    ),
    ResourceSpec(
        kind=ResourceKind.TABLE,
        name=DIRECTORY_SYNC,
        description="directory sync state by service",
        partition_key="service",
    ),
    ResourceSpec(
        kind=ResourceKind.TABLE, name=SERVICE_HEALTH, description="service health by service", partition_key="service"
    ),
    ResourceSpec(kind=ResourceKind.QUEUE, name=NETWORK_TICKETS, description="tickets for the network team"),
    ResourceSpec(kind=ResourceKind.QUEUE, name=RESTART_REQUESTS, description="restart requests for the platform team"),
    ResourceSpec(kind=ResourceKind.TOPIC, name=ONCALL_PAGES, description="pages to the on-call engineer"),
]


def _read(name: str, description: str, table: str) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=description,
        implementation=f"it_ops_app.tools:{name}",
        arguments=models.ServiceArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,  # the app's own table
        grants=(Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=table)),),
    )


def _write(name: str, description: str, arguments: type, kind: ResourceKind, target: str, action: str) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=description,
        implementation=f"it_ops_app.tools:{name}",
        arguments=arguments,
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # its own message id
        grants=(Grant(actions=(action,), resource=ResourceRef(kind=kind, name=target)),),
    )


TOOLS = [
    _read("get_link_status", "read the link status of one service", NETWORK_LINKS),
    _read("get_directory_sync", "read the directory sync state of one service", DIRECTORY_SYNC),
    _read("get_service_health", "read the health of one service", SERVICE_HEALTH),
    _write(
        "open_network_ticket",
        "open a ticket for the network team",
        models.TicketArgs,
        ResourceKind.QUEUE,
        NETWORK_TICKETS,
        "sqs:SendMessage",
    ),
    _write(
        "request_restart",
        "ask the platform team to restart a service",
        models.TicketArgs,
        ResourceKind.QUEUE,
        RESTART_REQUESTS,
        "sqs:SendMessage",
    ),
    _write(
        "page_oncall", "page the on-call engineer", models.PageArgs, ResourceKind.TOPIC, ONCALL_PAGES, "sns:Publish"
    ),
]


def _agent(
    name: str, description: str, input_model: type, output_model: type, tools: tuple[str, ...], keys: tuple[str, ...]
) -> AgentSpec:
    return AgentSpec(
        name=name,
        description=description,
        implementation=f"it_ops_app.agents:{name}",
        input_model=input_model,
        output_model=output_model,
        tools=tools,
        context_keys=keys,
    )


AGENTS = [
    _agent(
        "triage",
        "maps the incident's symptoms to categories",
        models.TriageInput,
        models.Triage,
        (),
        ("incident_id", "symptoms"),
    ),
    _agent(
        "escalation",
        "pages the on-call engineer about failed sub-workflows",
        models.EscalationInput,
        models.Escalation,
        ("page_oncall",),
        ("incident_id", "service"),
    ),
    _agent(
        "link_check",
        "reads the service's link status",
        models.LinkCheckInput,
        models.LinkStatus,
        ("get_link_status",),
        ("service",),
    ),
    _agent(
        "network_ticket",
        "opens a network ticket",
        models.NetworkTicketInput,
        models.Ticket,
        ("open_network_ticket",),
        ("incident_id", "service", "link_check"),
    ),
    _agent(
        "account_check",
        "reads the service's directory sync state",
        models.AccountCheckInput,
        models.AccountStatus,
        ("get_directory_sync",),
        ("service",),
    ),
    _agent(
        "health_check",
        "reads the service's health",
        models.HealthCheckInput,
        models.ServiceHealth,
        ("get_service_health",),
        ("service",),
    ),
    _agent(
        "restart",
        "asks for a restart of the service",
        models.RestartInput,
        models.Ticket,
        ("request_restart",),
        ("incident_id", "service", "health_check"),
    ),
]

SUB_BUDGETS = Budgets(
    max_stages=4, max_tasks_per_stage=1, max_concurrency=1, max_model_calls=0, max_input_tokens=0, max_output_tokens=0
)


def _sub(name: str, description: str, planner: str, agents: tuple[str, ...]) -> WorkflowSpec:
    return WorkflowSpec(
        name=name,
        description=description,
        input_model=models.SubIncident,
        planner=f"it_ops_app.planner:{planner}",
        agents=agents,
        trusted_input_keys=("incident_id", "service"),
        budgets=SUB_BUDGETS,
    )


NETWORK = _sub(
    "network-incident",
    "a network incident: link check, then a ticket if a link is degraded",
    "NetworkPlanner",
    ("link_check", "network_ticket"),
)
IDENTITY = _sub(
    "identity-incident", "an identity incident: the directory sync state", "IdentityPlanner", ("account_check",)
)
APPLICATION = _sub(
    "application-incident",
    "an application incident: health, then a restart if unhealthy",
    "ApplicationPlanner",
    ("health_check", "restart"),
)

WORKFLOW = WorkflowSpec(
    name="it-ops",
    description="an IT incident routed to the network, identity and application sub-workflows",
    input_model=models.Incident,
    planner="it_ops_app.planner:ItOpsPlanner",
    agents=("triage", "escalation"),
    children=(NETWORK.name, IDENTITY.name, APPLICATION.name),
    trusted_input_keys=("incident_id", "service", "symptoms"),
    budgets=Budgets(
        max_stages=12,
        max_tasks_per_stage=3,
        max_concurrency=3,
        max_model_calls=0,
        max_input_tokens=0,
        max_output_tokens=0,
    ),
    offline_fixture="it_ops_app.offline:prepare",
)

CATALOG: Catalog = build_catalog(
    resources=RESOURCES, tools=TOOLS, agents=AGENTS, workflows=[WORKFLOW, NETWORK, IDENTITY, APPLICATION]
)
