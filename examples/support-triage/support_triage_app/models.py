"""Every boundary of the support-triage workflow that is its own (the refund agents bring theirs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from refund_app.models import ORDER_ID

CUSTOMER_ID = r"^CUST-\d{1,10}$"
ARTICLE_ID = r"^KB-\d{3}$"


class Boundary(BaseModel):
    # built at first use: a Lambda function builds only the models on its own path
    model_config = ConfigDict(extra="forbid", defer_build=True)


class SupportRequest(Boundary):
    """What the support front end submits: who is asking (authenticated upstream) and what they wrote."""

    customer_id: str = Field(pattern=CUSTOMER_ID, description="the signed-in customer")
    order_id: str = Field(pattern=ORDER_ID, description="the order the customer picked in the form")
    message: str = Field(min_length=1, max_length=4000, description="the customer's own words: untrusted text")


class FaqInput(Boundary):
    message: str = Field(max_length=4000)


class FaqAnswer(Boundary):
    answer: str = Field(min_length=1, max_length=2000)
    article_ids: list[str] = Field(default_factory=list, max_length=20)
    answered: bool


class HandoffInput(Boundary):
    customer_id: str = Field(pattern=CUSTOMER_ID)
    order_id: str = Field(pattern=ORDER_ID)
    message: str = Field(max_length=4000)
    reason: str = Field(min_length=1, max_length=300, description="why a person should take this over")


class HandoffQueued(Boundary):
    case_id: str


# ---------------------------------------------------------------- tool arguments


class SearchArticlesArgs(Boundary):
    query: str = Field(min_length=1, max_length=200, description="words to look for in the help articles")


class QueueForHumanArgs(Boundary):
    customer_id: str = Field(pattern=CUSTOMER_ID)
    order_id: str = Field(pattern=ORDER_ID)
    reason: str = Field(max_length=300)
    message: str = Field(max_length=4000)


class Article(Boundary):
    """A help article as the knowledge-base table keeps it."""

    article_id: str = Field(pattern=ARTICLE_ID)
    title: str = Field(max_length=120)
    body: str = Field(max_length=4000)
    tags: list[str] = Field(default_factory=list)
