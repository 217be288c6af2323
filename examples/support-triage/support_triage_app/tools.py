"""The support-triage workflow's own tools: the knowledge base and the human queue."""

from __future__ import annotations

import re
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from baton.tools import ToolContext
from support_triage_app.models import Article, QueueForHumanArgs, SearchArticlesArgs

MAX_ARTICLES = 3
_WORD = re.compile(r"[a-z]{3,}")


def search_articles(args: SearchArticlesArgs, ctx: ToolContext) -> list[dict[str, Any]]:
    """The best few help articles for the query, by words in common (the knowledge base is small: one Scan)."""
    plain = TypeDeserializer()
    articles = [
        Article.model_validate({name: plain.deserialize(value) for name, value in item.items()}) for item in _scan(ctx)
    ]
    wanted = set(_WORD.findall(args.query.lower()))
    scored = []
    for article in articles:
        words = set(_WORD.findall(f"{article.title} {' '.join(article.tags)} {article.body}".lower()))
        score = len(wanted & words) + 2 * len(wanted & set(article.tags))
        if score:
            scored.append((score, article.article_id, article))
    scored.sort(key=lambda found: (-found[0], found[1]))
    return [article.model_dump(include={"article_id", "title", "body"}) for _, _, article in scored[:MAX_ARTICLES]]


def queue_for_human(args: QueueForHumanArgs, ctx: ToolContext) -> str:
    response = ctx.aws("sqs").send_message(
        QueueUrl=ctx.resource("support_handoffs"),
        MessageBody=args.model_dump_json(),
        MessageAttributes={"customer_id": {"DataType": "String", "StringValue": args.customer_id}},
    )
    return str(response["MessageId"])


def _scan(ctx: ToolContext) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in ctx.aws("dynamodb").get_paginator("scan").paginate(TableName=ctx.resource("help_articles")):
        items += page["Items"]
    return items
