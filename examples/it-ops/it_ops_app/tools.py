"""The it-ops tools: each reads or writes exactly one resource of the catalog, with its validated arguments."""

from __future__ import annotations

from typing import Any

from baton.tools import ToolContext
from it_ops_app.models import PageArgs, ServiceArgs, TicketArgs
from it_ops_app.names import (
    DIRECTORY_SYNC,
    NETWORK_LINKS,
    NETWORK_TICKETS,
    ONCALL_PAGES,
    RESTART_REQUESTS,
    SERVICE_HEALTH,
)


def _get(ctx: ToolContext, table: str, service: str) -> dict[str, Any] | None:
    item = (
        ctx.aws("dynamodb")
        .get_item(TableName=ctx.resource(table), Key={"service": {"S": service}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {name: next(iter(value.values())) for name, value in item.items()}


def get_link_status(args: ServiceArgs, ctx: ToolContext) -> dict[str, Any] | None:
    return _get(ctx, NETWORK_LINKS, args.service)


def get_directory_sync(args: ServiceArgs, ctx: ToolContext) -> dict[str, Any] | None:
    return _get(ctx, DIRECTORY_SYNC, args.service)


def get_service_health(args: ServiceArgs, ctx: ToolContext) -> dict[str, Any] | None:
    return _get(ctx, SERVICE_HEALTH, args.service)


def _send(ctx: ToolContext, queue: str, args: TicketArgs) -> str:
    response = ctx.aws("sqs").send_message(QueueUrl=ctx.resource(queue), MessageBody=args.model_dump_json())
    return str(response["MessageId"])


def open_network_ticket(args: TicketArgs, ctx: ToolContext) -> str:
    return _send(ctx, NETWORK_TICKETS, args)


def request_restart(args: TicketArgs, ctx: ToolContext) -> str:
    return _send(ctx, RESTART_REQUESTS, args)


def page_oncall(args: PageArgs, ctx: ToolContext) -> str:
    response = ctx.aws("sns").publish(
        TopicArn=ctx.resource(ONCALL_PAGES),
        Subject=f"incident {args.incident_id}: sub-workflows failed",
        Message=args.model_dump_json(),
    )
    return str(response["MessageId"])
