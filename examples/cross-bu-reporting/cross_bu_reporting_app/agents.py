"""The agents of both business units: coded, each with only its own tools.

sales_summary (A)  reads A's sales store and summarizes the quarter
peer_sales    (B)  obtains A's summary through A's API (the peer tool: cross-account role, SigV4, validated)
consolidation (B)  reads B's own sales store and consolidates both units' figures
"""

from __future__ import annotations

from baton.tools import AgentTaskFailed, ToolBox
from cross_bu_reporting_app.models import (
    ConsolidatedReport,
    ConsolidationInput,
    OwnSales,
    PeerSalesInput,
    SalesSummary,
    SummaryInput,
    UnitLine,
)


def sales_summary(task: SummaryInput, tools: ToolBox) -> SalesSummary:
    row = tools.call("read_bu_a_sales", quarter=task.quarter)
    if row is None:
        raise AgentTaskFailed(f"business unit A holds no sales for {task.quarter}")
    return SalesSummary(
        business_unit="bu-a",
        quarter=task.quarter,
        revenue_cents=int(row["revenue_cents"]),
        orders=int(row["orders"]),
        top_region=str(row["top_region"]),
    )


def peer_sales(task: PeerSalesInput, tools: ToolBox) -> SalesSummary:
    # the tool validated A's answer against SalesSummary already; validated again as this agent's output
    summary = SalesSummary.model_validate(tools.call("fetch_bu_a_summary", input={"quarter": task.quarter}))
    if summary.quarter != task.quarter:
        raise AgentTaskFailed("the peer summarized another quarter")
    return summary


def consolidation(task: ConsolidationInput, tools: ToolBox) -> ConsolidatedReport:
    row = tools.call("read_bu_b_sales", quarter=task.quarter)
    if row is None:
        raise AgentTaskFailed(f"business unit B holds no sales for {task.quarter}")
    own = OwnSales(
        business_unit="bu-b", quarter=task.quarter, revenue_cents=int(row["revenue_cents"]), orders=int(row["orders"])
    )
    peer = task.peer_sales
    total = peer.revenue_cents + own.revenue_cents

    def share(cents: int) -> float:
        return round(100 * cents / total, 2) if total else 0.0

    return ConsolidatedReport(
        quarter=task.quarter,
        total_revenue_cents=total,
        total_orders=peer.orders + own.orders,
        units=[
            UnitLine(
                business_unit="bu-a",
                revenue_cents=peer.revenue_cents,
                orders=peer.orders,
                share_percent=share(peer.revenue_cents),
                source="peer-api",
            ),
            UnitLine(
                business_unit="bu-b",
                revenue_cents=own.revenue_cents,
                orders=own.orders,
                share_percent=share(own.revenue_cents),
                source="own-store",
            ),
        ],
    )
