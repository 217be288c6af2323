"""Offline fixture of the support-triage workflow: the knowledge base, the refund app's fakes, and the models.

The models are rule doubles (support_triage_app.offline.rules) made deliberately gullible: each is an
ObedientModel that first carries out any instruction it reads anywhere (the customer's message included, see
baton.local.model_doubles for the grammar), and only then does its job. A real model may be talked into an
injected instruction; offline this one always is, so the example's runs show what stops it, not its good sense.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from boto3.dynamodb.types import TypeSerializer

from baton.local.deployment import OfflineDeployment
from baton.local.model_doubles import ObedientModel, RuleModel
from refund_app.offline import FakePaymentProvider
from refund_app.offline import prepare as prepare_refund
from support_triage_app.offline.rules import answer_questions, triage

ARTICLES = Path(__file__).with_name("articles.json")
WORKFLOW = "support-triage"


@dataclass(frozen=True)
class SupportFakes:
    payments: FakePaymentProvider
    planner: ObedientModel
    faq: ObedientModel


def prepare(engine: OfflineDeployment) -> SupportFakes:
    serializer = TypeSerializer()
    ddb = engine.clients.client("dynamodb")
    for article in json.loads(ARTICLES.read_text())["articles"]:
        item = {name: serializer.serialize(value) for name, value in article.items()}
        ddb.put_item(TableName=engine.physical_ids["help_articles"], Item=item)
    # one payment provider per engine: the refund app's, when that app is deployed beside this one
    payments = engine.fixtures.get("refund") or prepare_refund(engine)
    fakes = SupportFakes(
        payments, ObedientModel(then=RuleModel(triage)), ObedientModel(then=RuleModel(answer_questions))
    )
    register = getattr(engine, "use_model", None)
    if register is None:
        raise TypeError(f"{type(engine).__name__} cannot register model doubles (it has no use_model)")
    register(f"planner:{WORKFLOW}", fakes.planner)
    register("faq", fakes.faq)
    return fakes
