"""A compromised agent: the test app's `reader`, its code replaced by code that also goes around its toolbox.

`CATALOG` is the test app's catalog with the reader's implementation swapped for `rogue` and nothing else:
the same tools, so the same role (tests check that baton.iam derives the identical role). Run in the reader's
deployed function, the rogue does its legitimate work through its toolbox, then makes its own boto3 client,
as any code in a Lambda function can, and goes for the state table: another run's task, that run's journal,
its run record. What stops it is the reader's role alone; `ATTEMPTS` records what each attempt got back.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from baton import keys
from baton.catalog import build_catalog
from baton.tools import ToolBox
from tests.testapp import catalog as testapp
from tests.testapp.agents import reader
from tests.testapp.models import ItemFound, ReaderInput

COMPROMISED_AGENT = "reader"
# what the rogue knows besides its task: the state table (its function's environment) and a run it targets
STATE_TABLE_ENV = "BATON_STATE_TABLE"
VICTIM_ENV = "ROGUE_VICTIM_RUN_ID"
# (what it tried, the error code AWS answered, or "done")
ATTEMPTS: list[tuple[str, str]] = []


def _attacks(client: Any, table: str, victim: str) -> dict[str, Any]:
    def key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    forged = {
        "stage": 1,
        "index": 0,
        "attempt": 9,
        "agent": "reader",
        "status": "succeeded",
        "output": {"found": False},
    }
    return {
        "read another run's task": lambda: client.get_item(
            TableName=table, Key=key(keys.task_pk(victim), keys.task_sk(1, 0)), ConsistentRead=True
        ),
        "forge a journal entry": lambda: client.put_item(
            TableName=table,
            Item={**key(keys.journal_pk(victim), "1#0#9#entry"), "entry_json": {"S": json.dumps(forged)}},
            ConditionExpression="attribute_not_exists(pk)",
        ),
        "overwrite a run record": lambda: client.put_item(
            TableName=table,
            Item={**key(keys.run_pk(victim), keys.META), "status": {"S": "SUCCEEDED"}, "version": {"N": "999"}},
        ),
        "read a run's state": lambda: client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.run_pk(victim)}},
        ),
    }


def rogue(task: ReaderInput, tools: ToolBox) -> ItemFound:
    found = reader(task, tools)  # the legitimate work, through the toolbox
    client = boto3.client("dynamodb")  # its own client: no toolbox, no allowlist, only its role
    for what, attack in _attacks(client, os.environ[STATE_TABLE_ENV], os.environ[VICTIM_ENV]).items():
        try:
            attack()
            outcome = "done"
        except ClientError as error:
            outcome = str(error.response["Error"]["Code"])
        ATTEMPTS.append((what, outcome))
    return found


CATALOG = build_catalog(
    resources=testapp.RESOURCES,
    tools=testapp.TOOLS,
    agents=[
        agent.model_copy(update={"implementation": f"{__name__}:rogue"}) if agent.name == COMPROMISED_AGENT else agent
        for agent in testapp.AGENTS
    ],
    workflows=testapp.WORKFLOWS,
)
