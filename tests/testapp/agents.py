"""The test app's agents: a reader, a rater (external, untrusted), a pure-logic scorer, a notifier, a payer."""

from __future__ import annotations

import contextlib

from baton.tools import AgentTaskFailed, ToolBox
from tests.testapp.models import (
    Item,
    ItemFound,
    NoteSent,
    NotifierInput,
    PayerInput,
    Payment,
    RaterInput,
    Rating,
    ReaderInput,
    Score,
    ScorerInput,
)
from tests.testapp.tools import RemoteRefused


def reader(task: ReaderInput, tools: ToolBox) -> ItemFound:
    item = tools.call("read_item", item_id=task.item_id)
    return ItemFound(found=item is not None, item=None if item is None else Item.model_validate(item))


def rater(task: RaterInput, tools: ToolBox) -> Rating:
    body = tools.call("fetch_rating", item_id=task.item_id, source=task.source)
    return Rating(source=task.source, stars=int(body["stars"]))


def scorer(task: ScorerInput, tools: ToolBox) -> Score:
    """Pure logic: no tools at all."""
    if task.reader.item is None:
        raise AgentTaskFailed("no item to score")
    return Score(score=min(100, task.reader.item.price_cents // 100))


def notifier(task: NotifierInput, tools: ToolBox) -> NoteSent:
    message_id = tools.call("send_note", item_id=task.item_id, text=f"score {task.scorer.score}")
    return NoteSent(message_id=message_id)


def payer(task: PayerInput, tools: ToolBox) -> Payment:
    item = task.reader.item
    if item is None:
        raise AgentTaskFailed("no item to pay for")
    if task.mode == "read_then_pay":
        tools.call("fetch_rating", item_id=item.item_id, source="a")
    if task.mode == "catch_then_pay":
        # the remote error carries the remote party's words; catching it must not launder them
        with contextlib.suppress(RemoteRefused):
            tools.call("fetch_rating", item_id=item.item_id, source="broken")
    paid = tools.call("pay_out", account=item.account, amount_cents=item.price_cents, memo=task.memo)
    return Payment(payment_id=paid["payment_id"])
