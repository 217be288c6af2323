"""The threat-intel workflow's tools: one per feed, each reaching only its own feed's host."""

from __future__ import annotations

from typing import Any

from baton.tools import RetryableToolError, ToolContext
from threat_intel_app.models import QueryFeedArgs
from threat_intel_app.names import FEED_HOSTS


class FeedRefused(Exception):
    """The feed refused the query (a permanent 4xx); retrying cannot help."""


def _query(host: str, args: QueryFeedArgs, ctx: ToolContext) -> dict[str, Any]:
    response = ctx.http().request(
        "GET", f"https://{host}/v1/indicators?scope={args.scope}&since_days={args.since_days}"
    )
    if response.status == 429 or response.status >= 500:
        raise RetryableToolError(f"feed {host} answered {response.status}")
    if not 200 <= response.status < 300:  # a redirect is handed back, never followed
        raise FeedRefused(f"feed {host} refused the query with {response.status}")
    body: dict[str, Any] = response.json()
    return body


def query_feed_a(args: QueryFeedArgs, ctx: ToolContext) -> dict[str, Any]:
    return _query(FEED_HOSTS["feed_a"], args, ctx)


def query_feed_b(args: QueryFeedArgs, ctx: ToolContext) -> dict[str, Any]:
    return _query(FEED_HOSTS["feed_b"], args, ctx)


def query_feed_c(args: QueryFeedArgs, ctx: ToolContext) -> dict[str, Any]:
    return _query(FEED_HOSTS["feed_c"], args, ctx)
