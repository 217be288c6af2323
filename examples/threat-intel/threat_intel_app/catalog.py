"""The threat-intel workflow, declared once: infra derives IAM from this, the runtime enforces it.

The seed's concurrent pattern: "a threat intelligence workflow that queries three external feeds in parallel and
merges the results". Each feed is its own agent with its own tool, whose one egress host is its feed's: a feed
agent cannot reach another feed, nor anything else (its role holds no statement on any resource). The three run in
one stage; the planner declares on that stage how their answers are reconciled (baton.reconcile), and the
orchestrator records the merged value under "intel" (declared in `reconciled_keys`). The report agent has no
tools: it turns the merged indicators into the run's result.

Trust. Every feed's answer is untrusted (a tool with egress never claims trusted output): so is the merged value,
the report, and anything derived from them. The run's input is constrained (a watchlist name, a number of days,
one of two rules) and trusted. The built-in injection detector scans each untrusted value as it enters the run, a
signal: no agent here follows text, and none can act on the world beyond reading its one feed.
"""

from __future__ import annotations

from baton.catalog import AgentSpec, Budgets, Catalog, SideEffect, ToolSpec, WorkflowSpec, build_catalog
from threat_intel_app import models
from threat_intel_app.names import FEED_HOSTS
from threat_intel_app.planner import FEEDS, INTEL

TOOLS = [
    ToolSpec(
        name=f"query_{feed}",
        description=f"ask threat feed {FEED_HOSTS[feed]} for the indicators it knows for a watchlist",
        implementation=f"threat_intel_app.tools:query_{feed}",
        arguments=models.QueryFeedArgs,
        side_effect=SideEffect.READ,
        egress=(FEED_HOSTS[feed],),
    )
    for feed in FEEDS
]

AGENTS = [
    *(
        AgentSpec(
            name=feed,
            description=f"reads threat feed {FEED_HOSTS[feed]}",
            implementation=f"threat_intel_app.agents:{feed}",
            input_model=models.FeedInput,
            output_model=models.FeedReport,
            tools=(f"query_{feed}",),
            context_keys=("scope", "since_days"),
        )
        for feed in FEEDS
    ),
    AgentSpec(
        name="report",
        description="reports the reconciled indicators, by severity",
        implementation="threat_intel_app.agents:report",
        input_model=models.ReportInput,
        output_model=models.ThreatReport,
        context_keys=("scope", INTEL),
    ),
]

WORKFLOW = WorkflowSpec(
    name="threat-intel",
    description="three threat feeds queried at once, their indicators merged by indicator and reported",
    input_model=models.ThreatIntelRequest,
    planner="threat_intel_app.planner:ThreatIntelPlanner",
    agents=(*FEEDS, "report"),
    trusted_input_keys=("scope", "since_days", "on_conflict"),
    reconciled_keys=(INTEL,),
    budgets=Budgets(max_stages=4, max_tasks_per_stage=3, max_concurrency=3),
    execution="standard",
    injection_detector="builtin",
    offline_fixture="threat_intel_app.offline:prepare",
)

CATALOG: Catalog = build_catalog(resources=[], tools=TOOLS, agents=AGENTS, workflows=[WORKFLOW])
