"""Offline fixture of the compliance-review workflow: the documents it reviews, in the document store.

The documents ship with the app (documents.json, package data, never bundled into a Lambda function): an incident
report holding customers' personal data (the default input), a service level agreement holding none, and a
contract amendment holding personal data and an instruction addressed to automated reviewers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from baton.local.deployment import OfflineDeployment
from compliance_review_app.names import DOCUMENTS, REPORTS

SEED = Path(__file__).with_name("documents.json")


def documents() -> list[dict[str, Any]]:
    """The shipped documents, as the store holds them (the body one text, its lines joined)."""
    found: list[dict[str, Any]] = json.loads(SEED.read_text())["documents"]
    return [{**document, "body": "\n".join(document["body"])} for document in found]


def prepare(engine: OfflineDeployment) -> dict[str, str]:
    ddb = engine.clients.client("dynamodb")
    for document in documents():
        item = {name: {"S": value} for name, value in document.items()}
        ddb.put_item(TableName=engine.physical_ids[DOCUMENTS], Item=item)
    return {"documents": engine.physical_ids[DOCUMENTS], "reports": engine.physical_ids[REPORTS]}
