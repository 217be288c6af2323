"""Offline fixtures: each unit's sales store, B's external id, and A's API served by the peer bridge.

One engine holds both deployments (the merged catalog); A's API is the peer bridge (baton.local.peer_bridge) on
127.0.0.1 over TLS, reached by B's peer tool through the egress transport, and authorizing each request by its
SigV4 signature and A's declared trust, since moto's STS enforces neither trust policies nor external ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from baton.local.functions import agent_function_name
from cross_bu_reporting_app.catalog import BU_A_ACCOUNT, BU_A_API_URL, BU_B_CALLER_ROLE, EXTERNAL_ID
from cross_bu_reporting_app.names import BU_A_SALES, BU_B_SALES, EXTERNAL_ID_SECRET

SEED = Path(__file__).with_name("sales.json")


def _seed(engine: Any, table: str, rows: list[dict[str, Any]]) -> None:
    ddb = engine.clients.client("dynamodb")
    for row in rows:
        item = {k: ({"N": str(v)} if isinstance(v, int) else {"S": str(v)}) for k, v in row.items()}
        ddb.put_item(TableName=engine.physical_ids[table], Item=item)


def prepare_bu_a(engine: Any) -> dict[str, Any]:
    _seed(engine, BU_A_SALES, json.loads(SEED.read_text())["bu_a"])
    return {"sales": engine.physical_ids[BU_A_SALES]}


def prepare_bu_b(engine: Any) -> dict[str, Any]:
    from baton.local.engine import LocalEngine
    from baton.local.peer_bridge import PeerBridge

    _seed(engine, BU_B_SALES, json.loads(SEED.read_text())["bu_b"])
    engine.clients.client("secretsmanager").put_secret_value(
        SecretId=engine.physical_ids[EXTERNAL_ID_SECRET], SecretString=EXTERNAL_ID
    )
    if not isinstance(engine, LocalEngine):  # a deployment in moto's CloudFormation: no API of A to bridge to
        return {"sales": engine.physical_ids[BU_B_SALES]}
    # the principal each offline function runs as: B's peer_sales agent runs as the role A's trust names
    bridge = PeerBridge(engine, BU_A_API_URL, BU_A_ACCOUNT, {agent_function_name("peer_sales"): BU_B_CALLER_ROLE})
    return {"sales": engine.physical_ids[BU_B_SALES], "bridge": bridge}
