"""Every boundary of the test app."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ITEM_ID = r"^IT-\d{1,6}$"


class Boundary(BaseModel):
    # built at first use: a Lambda function builds only the models on its own path
    model_config = ConfigDict(extra="forbid", defer_build=True)


class RelayRequest(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    note: str = Field(default="", max_length=500, description="free text from the caller: untrusted")


class FanoutRequest(Boundary):
    item_id: str = Field(pattern=ITEM_ID)


PayoutMode = Literal["clean", "note_in_params", "read_then_pay", "catch_then_pay"]


class PayoutRequest(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    mode: PayoutMode = "clean"
    note: str = Field(default="", max_length=500)


class Item(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    title: str = Field(max_length=100)
    price_cents: int = Field(ge=0)
    account: str = Field(pattern=r"^ACC-\d{1,8}$")


class ReaderInput(Boundary):
    item_id: str = Field(pattern=ITEM_ID)


class ItemFound(Boundary):
    found: bool
    item: Item | None = None


class RaterInput(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    source: Literal["a", "b", "c", "broken"]


class Rating(Boundary):
    source: str
    stars: int = Field(ge=0, le=5)


class ScorerInput(Boundary):
    reader: ItemFound


class Score(Boundary):
    score: int = Field(ge=0, le=100)


class NotifierInput(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    scorer: Score


class NoteSent(Boundary):
    message_id: str


class PayerInput(Boundary):
    reader: ItemFound
    mode: PayoutMode
    memo: str = Field(default="", max_length=500)


class Payment(Boundary):
    payment_id: str = Field(pattern=r"^pm_[a-f0-9]{1,32}$")


# ---------------------------------------------------------------- tool arguments


class ReadItemArgs(Boundary):
    item_id: str = Field(pattern=ITEM_ID)


class FetchRatingArgs(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    source: Literal["a", "b", "c", "broken"]


class SendNoteArgs(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    text: str = Field(max_length=500)


class PayOutArgs(Boundary):
    account: str = Field(pattern=r"^ACC-\d{1,8}$")
    amount_cents: int = Field(gt=0, le=1_000_000)
    memo: str = Field(default="", max_length=500)


# ---------------------------------------------------------------- model-backed agents (catalog.MODEL_CATALOG)


class SummarizeRequest(Boundary):
    item_id: str = Field(pattern=ITEM_ID)


class SummarizerInput(Boundary):
    item_id: str = Field(pattern=ITEM_ID)


class Summary(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    summary: str = Field(min_length=1, max_length=300)


class AssistRequest(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    note: str = Field(default="", max_length=500, description="the caller's question: untrusted")


class AssistantInput(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    note: str = Field(default="", max_length=500)


class Answer(Boundary):
    answer: str = Field(min_length=1, max_length=1_000)


class FetchPageArgs(Boundary):
    url: str = Field(min_length=8, max_length=2_000)
