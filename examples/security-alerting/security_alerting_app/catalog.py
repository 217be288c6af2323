"""The security-alerting workflows, declared once: infra derives IAM, rules, queues and starters from this.

The seed's event-driven pattern: "a security alerting system where a detection agent publishes a finding as an
event, and enrichment and notification agents subscribe to it independently". Three workflows:

  security-alerting   a detection agent publishes a finding on the findings bus (events:PutEvents, derived)
  alert-enrichment    triggered by every finding: the asset's owner and a priority
  alert-notification  triggered by high and critical findings: the owning team's on-call is paged

Neither subscriber knows the other, nor the publisher: each declares a trigger (a bus and an event pattern), and
Baton derives its rule, its queue (with a dead-letter queue), its starter function and their IAM (baton.triggers).
Trust: every field of a finding is constrained (patterns, literals), so subscribers' inputs are trusted.
"""

from __future__ import annotations

import json

from baton.catalog import (
    AgentSpec,
    Budgets,
    Catalog,
    EventTrigger,
    Grant,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from security_alerting_app import models
from security_alerting_app.names import ALERT_PAGES, ASSET_INVENTORY, ASSET_OWNERS, BUS, DETAIL_TYPE, SOURCE

FINDING_KEYS = ("finding_id", "account_id", "resource_id", "signal", "severity")

RESOURCES = [
    ResourceSpec(kind=ResourceKind.EVENT_BUS, name=BUS, description="security findings, published by detection"),
    ResourceSpec(
        kind=ResourceKind.PARAMETER,
        name=ASSET_OWNERS,
        description="the asset inventory: each resource's owning team and environment",
        value=json.dumps(ASSET_INVENTORY, sort_keys=True),
    ),
    ResourceSpec(kind=ResourceKind.QUEUE, name=ALERT_PAGES, description="pages for on-call engineers"),
]

TOOLS = [
    ToolSpec(
        name="publish_finding",
        description="publish a finding on the findings bus (an EventBridge event naming the publishing run)",
        implementation="security_alerting_app.tools:publish_finding",
        arguments=models.PublishFindingArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # its own event id
        grants=(Grant(actions=("events:PutEvents",), resource=ResourceRef(kind=ResourceKind.EVENT_BUS, name=BUS)),),
    ),
    ToolSpec(
        name="lookup_asset",
        description="the owning team and environment of a resource, from the asset inventory",
        implementation="security_alerting_app.tools:lookup_asset",
        arguments=models.LookupAssetArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,  # the project's own inventory
        grants=(
            Grant(actions=("ssm:GetParameter",), resource=ResourceRef(kind=ResourceKind.PARAMETER, name=ASSET_OWNERS)),
        ),
    ),
    ToolSpec(
        name="page_team",
        description="page the on-call engineer of a team",
        implementation="security_alerting_app.tools:page_team",
        arguments=models.PageTeamArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # its own message id
        grants=(Grant(actions=("sqs:SendMessage",), resource=ResourceRef(kind=ResourceKind.QUEUE, name=ALERT_PAGES)),),
    ),
]

AGENTS = [
    AgentSpec(
        name="detector",
        description="turns a sensor's signal into a finding and publishes it",
        implementation="security_alerting_app.agents:detector",
        input_model=models.DetectionRequest,
        output_model=models.Published,
        tools=("publish_finding",),
        context_keys=("account_id", "resource_id", "signal"),
    ),
    AgentSpec(
        name="enricher",
        description="finds the owner of the finding's asset and sets a priority",
        implementation="security_alerting_app.agents:enricher",
        input_model=models.Finding,
        output_model=models.Enrichment,
        tools=("lookup_asset",),
        context_keys=FINDING_KEYS,
    ),
    AgentSpec(
        name="pager",
        description="pages the on-call of the team owning the finding's asset",
        implementation="security_alerting_app.agents:pager",
        input_model=models.Finding,
        output_model=models.Page,
        tools=("page_team",),
        context_keys=FINDING_KEYS,
    ),
]

FINDINGS = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
WORKFLOWS = [
    WorkflowSpec(
        name="security-alerting",
        description="detection: a sensor's signal becomes a finding, published on the findings bus",
        input_model=models.DetectionRequest,
        planner="security_alerting_app.planner:DetectionPlanner",
        agents=("detector",),
        trusted_input_keys=("account_id", "resource_id", "signal"),
        budgets=Budgets(max_stages=2, max_tasks_per_stage=1, max_concurrency=1),
    ),
    WorkflowSpec(
        name="alert-enrichment",
        description="every published finding enriched: the asset's owner and a priority",
        input_model=models.Finding,
        planner="security_alerting_app.planner:EnrichmentPlanner",
        agents=("enricher",),
        trusted_input_keys=FINDING_KEYS,
        budgets=Budgets(max_stages=2, max_tasks_per_stage=1, max_concurrency=1),
        triggers=(EventTrigger(bus=BUS, pattern=FINDINGS),),
    ),
    WorkflowSpec(
        name="alert-notification",
        description="high and critical findings: the owning team's on-call is paged",
        input_model=models.Finding,
        planner="security_alerting_app.planner:NotificationPlanner",
        agents=("pager",),
        trusted_input_keys=FINDING_KEYS,
        budgets=Budgets(max_stages=2, max_tasks_per_stage=1, max_concurrency=1),
        triggers=(EventTrigger(bus=BUS, pattern={**FINDINGS, "detail": {"severity": ["high", "critical"]}}),),
    ),
]

CATALOG: Catalog = build_catalog(resources=RESOURCES, tools=TOOLS, agents=AGENTS, workflows=WORKFLOWS)
