"""The test app's tools: one of each kind (table read, HTTP with a secret, queue write, irreversible HTTP), and a
page reader whose URL its caller chooses (the model-backed assistant's, limited by its egress)."""

from __future__ import annotations

from typing import Any

from baton.tools import RetryableToolError, ToolContext
from tests.testapp.models import FetchPageArgs, FetchRatingArgs, PayOutArgs, ReadItemArgs, SendNoteArgs

RATINGS_HOST = "ratings.example.com"
BANK_HOST = "bank.example.com"
REVIEWS_HOST = "reviews.example.com"
MAX_PAGE_CHARS = 5_000


class RemoteRefused(Exception):
    """The remote API answered with an error; its body is in the message (as real clients often do)."""


def read_item(args: ReadItemArgs, ctx: ToolContext) -> dict[str, Any] | None:
    item = (
        ctx.aws("dynamodb")
        .get_item(TableName=ctx.resource("items"), Key={"item_id": {"S": args.item_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {name: int(value["N"]) if "N" in value else value["S"] for name, value in item.items()}


def fetch_rating(args: FetchRatingArgs, ctx: ToolContext) -> dict[str, Any]:
    response = ctx.http().request(
        "GET",
        f"https://{RATINGS_HOST}/v1/ratings/{args.source}/{args.item_id}",
        headers={"Authorization": f"Bearer {ctx.secret('ratings_key')}"},
    )
    if response.status >= 500:
        raise RemoteRefused(f"ratings answered {response.status}: {response.body.decode(errors='replace')[:300]}")
    body: dict[str, Any] = response.json()
    return body


def send_note(args: SendNoteArgs, ctx: ToolContext) -> str:
    response = ctx.aws("sqs").send_message(QueueUrl=ctx.resource("outbox"), MessageBody=args.model_dump_json())
    return str(response["MessageId"])


def pay_out(args: PayOutArgs, ctx: ToolContext) -> dict[str, Any]:
    response = ctx.http().request(
        "POST",
        f"https://{BANK_HOST}/v1/payments",
        headers={"Authorization": f"Bearer {ctx.secret('bank_key')}"},
        json_body=args.model_dump(),
    )
    if response.status == 429 or response.status >= 500:
        raise RetryableToolError(f"bank answered {response.status}")
    if response.status >= 400:
        raise RemoteRefused(f"bank refused with {response.status}")
    body: dict[str, Any] = response.json()
    return body


def fetch_page(args: FetchPageArgs, ctx: ToolContext) -> str:
    """GET any URL the caller names: the tool's egress allowlist decides which are reachable."""
    response = ctx.http().request("GET", args.url)
    text = response.body.decode(errors="replace")
    if response.status >= 400:
        raise RemoteRefused(f"the page answered {response.status}: {text[:300]}")
    return text[:MAX_PAGE_CHARS]
