"""Each business unit's own sales store (read-only); the peer call is Baton's (baton.federation:call_peer)."""

from __future__ import annotations

from typing import Any

from baton.tools import ToolContext
from cross_bu_reporting_app.models import SalesQuery
from cross_bu_reporting_app.names import BU_A_SALES, BU_B_SALES


def _read(table: str, args: SalesQuery, ctx: ToolContext) -> dict[str, Any] | None:
    item = ctx.aws("dynamodb").get_item(TableName=ctx.resource(table), Key={"quarter": {"S": args.quarter}}).get("Item")
    if item is None:
        return None
    return {"quarter": item["quarter"]["S"], **{k: v.get("S", v.get("N")) for k, v in item.items() if k != "quarter"}}


def read_bu_a_sales(args: SalesQuery, ctx: ToolContext) -> dict[str, Any] | None:
    return _read(BU_A_SALES, args, ctx)


def read_bu_b_sales(args: SalesQuery, ctx: ToolContext) -> dict[str, Any] | None:
    return _read(BU_B_SALES, args, ctx)
