"""The security-alerting tools: each gets only its validated arguments and its own scoped context."""

from __future__ import annotations

import json
from typing import Any

from baton.tools import ToolContext
from baton.triggers import publish_event
from security_alerting_app.models import LookupAssetArgs, PageTeamArgs, PublishFindingArgs
from security_alerting_app.names import ALERT_PAGES, ASSET_OWNERS, BUS, DETAIL_TYPE, SOURCE


def publish_finding(args: PublishFindingArgs, ctx: ToolContext) -> dict[str, Any]:
    """Publish the finding on the findings bus (the publishing run's id in the event): its event id."""
    finding = args.model_dump(mode="json")
    event_id = publish_event(ctx.aws("events"), ctx.resource(BUS), SOURCE, DETAIL_TYPE, ctx.run_id, finding)
    return {"event_id": event_id}


def lookup_asset(args: LookupAssetArgs, ctx: ToolContext) -> dict[str, str]:
    """The owning team and environment of a resource, from the asset inventory."""
    value = ctx.aws("ssm").get_parameter(Name=ctx.resource(ASSET_OWNERS))["Parameter"]["Value"]
    owners = json.loads(value)
    owner = owners.get(args.resource_id, {"team": "security", "environment": "unknown"})
    return {"resource_id": args.resource_id, "team": owner["team"], "environment": owner["environment"]}


def page_team(args: PageTeamArgs, ctx: ToolContext) -> dict[str, str]:
    """Page the on-call of a team (a message on the pages queue)."""
    sent = ctx.aws("sqs").send_message(QueueUrl=ctx.resource(ALERT_PAGES), MessageBody=args.model_dump_json())
    return {"message_id": str(sent["MessageId"])}
