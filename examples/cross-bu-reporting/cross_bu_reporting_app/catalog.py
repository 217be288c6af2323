"""The cross-bu-reporting app: two business units, two deployments, declared once each.

Business unit A (account 111111111111) runs `sales-summary` and lets exactly one principal of business unit B
call it: its `PeerTrust` (the cross-account role `bu-a-sales-summary-peer`, trusting B's `peer_sales` agent role
with an external id), from which CDK derives the role's trust policy (sts:ExternalId) and the API's authorization.

Business unit B (account 222222222222) runs `cross-bu-reporting`: its `peer_sales` agent calls A's API through the
peer tool `fetch_bu_a_summary` (`PeerSpec`: A's API in its egress, the role to assume, the external id in a secret,
A's workflow and the model A's result must fit); its agent role may assume exactly that role (baton.iam). A's
answer is untrusted and validated; `consolidation` combines it with B's own figures.

`BU_A_CATALOG` and `BU_B_CATALOG` each deploy as their own stack (in their own account); `CATALOG`, both merged,
is what `baton run`, `baton graph` and the offline engine load (one engine, A's API served by the peer bridge).
"""

from __future__ import annotations

from baton.catalog import (
    AgentSpec,
    Budgets,
    Catalog,
    Grant,
    PeerSpec,
    PeerTrust,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.federation import PeerRunArgs
from cross_bu_reporting_app import models
from cross_bu_reporting_app.names import BU_A_SALES, BU_B_SALES, EXTERNAL_ID_SECRET

BU_A_ACCOUNT = "111111111111"
BU_B_ACCOUNT = "222222222222"
BU_A_API_HOST = "sales-api.bu-a.example"
BU_A_API_URL = f"https://{BU_A_API_HOST}/v1"
PEER_ROLE_NAME = "bu-a-sales-summary-peer"
PEER_ROLE_ARN = f"arn:aws:iam::{BU_A_ACCOUNT}:role/{PEER_ROLE_NAME}"
# the role B's peer_sales agent runs as (B's stack names it so: A's trust names it)
BU_B_CALLER_ROLE = f"arn:aws:iam::{BU_B_ACCOUNT}:role/bu-b-peer-sales-agent"
# agreed between the units out of band; B keeps it in a secret, A declares it in its trust
EXTERNAL_ID = "ext-7f3c9a52e1d04b86a1c3"

# ---------------------------------------------------------------- business unit A: the provider

BU_A_CATALOG: Catalog = build_catalog(
    resources=[
        ResourceSpec(
            kind=ResourceKind.TABLE,
            name=BU_A_SALES,
            description="business unit A's sales figures, by quarter",
            partition_key="quarter",
        )
    ],
    tools=[
        ToolSpec(
            name="read_bu_a_sales",
            description="read business unit A's figures for one quarter",
            implementation="cross_bu_reporting_app.tools:read_bu_a_sales",
            arguments=models.SalesQuery,
            side_effect=SideEffect.READ,
            output_trusted=True,  # A's own declared store
            grants=(
                Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=BU_A_SALES)),
            ),
        )
    ],
    agents=[
        AgentSpec(
            name="sales_summary",
            description="summarizes business unit A's quarter",
            implementation="cross_bu_reporting_app.agents:sales_summary",
            input_model=models.SummaryInput,
            output_model=models.SalesSummary,
            tools=("read_bu_a_sales",),
            context_keys=("quarter",),
        )
    ],
    workflows=[
        WorkflowSpec(
            name="sales-summary",
            description="business unit A's sales summary of a quarter (served to business unit B through the API)",
            input_model=models.ReportRequest,
            planner="cross_bu_reporting_app.planner:SalesSummaryPlanner",
            agents=("sales_summary",),
            trusted_input_keys=("quarter",),
            budgets=Budgets(max_stages=2, max_tasks_per_stage=1, max_concurrency=1),
            trusted_peers=(
                PeerTrust(role_name=PEER_ROLE_NAME, principals=(BU_B_CALLER_ROLE,), external_id=EXTERNAL_ID),
            ),
            offline_fixture="cross_bu_reporting_app.offline:prepare_bu_a",
        )
    ],
)

# ---------------------------------------------------------------- business unit B: the consumer

BU_B_CATALOG: Catalog = build_catalog(
    resources=[
        ResourceSpec(
            kind=ResourceKind.TABLE,
            name=BU_B_SALES,
            description="business unit B's sales figures, by quarter",
            partition_key="quarter",
        ),
        ResourceSpec(
            kind=ResourceKind.SECRET,
            name=EXTERNAL_ID_SECRET,
            description="the external id business unit A's cross-account role requires of business unit B",
        ),
    ],
    tools=[
        ToolSpec(
            name="read_bu_b_sales",
            description="read business unit B's figures for one quarter",
            implementation="cross_bu_reporting_app.tools:read_bu_b_sales",
            arguments=models.SalesQuery,
            side_effect=SideEffect.READ,
            output_trusted=True,  # B's own declared store
            grants=(
                Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=BU_B_SALES)),
            ),
        ),
        ToolSpec(
            name="fetch_bu_a_summary",
            description="run business unit A's sales-summary through A's API and return its validated result",
            implementation="baton.federation:call_peer",
            arguments=PeerRunArgs,
            side_effect=SideEffect.READ,
            output_trusted=False,  # a peer's data: untrusted, whatever it says
            secrets=(EXTERNAL_ID_SECRET,),
            egress=(BU_A_API_HOST,),
            peer=PeerSpec(
                api_url=BU_A_API_URL,
                workflow="sales-summary",
                role_arn=PEER_ROLE_ARN,
                external_id_secret=EXTERNAL_ID_SECRET,
                result_model=models.SalesSummary,
                request_timeout_seconds=3,
                run_timeout_seconds=60,
            ),
        ),
    ],
    agents=[
        AgentSpec(
            name="peer_sales",
            description="obtains business unit A's summary through A's API (untrusted, validated)",
            implementation="cross_bu_reporting_app.agents:peer_sales",
            input_model=models.PeerSalesInput,
            output_model=models.SalesSummary,
            tools=("fetch_bu_a_summary",),
            context_keys=("quarter",),
        ),
        AgentSpec(
            name="consolidation",
            description="consolidates A's summary with B's own figures",
            implementation="cross_bu_reporting_app.agents:consolidation",
            input_model=models.ConsolidationInput,
            output_model=models.ConsolidatedReport,
            tools=("read_bu_b_sales",),
            context_keys=("quarter", "peer_sales"),
        ),
    ],
    workflows=[
        WorkflowSpec(
            name="cross-bu-reporting",
            description="a quarter's report across business units: A's summary through A's API, then B's own",
            input_model=models.ReportRequest,
            planner="cross_bu_reporting_app.planner:CrossBuReportingPlanner",
            agents=("peer_sales", "consolidation"),
            trusted_input_keys=("quarter",),
            budgets=Budgets(max_stages=3, max_tasks_per_stage=1, max_concurrency=1),
            offline_fixture="cross_bu_reporting_app.offline:prepare_bu_b",
        )
    ],
)

CATALOG: Catalog = Catalog.merge(BU_A_CATALOG, BU_B_CATALOG)
