"""Offline fixture of the it-ops workflows: the state of the services they look at, in the app's tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from baton.local.deployment import OfflineDeployment
from it_ops_app.names import DIRECTORY_SYNC, NETWORK_LINKS, SERVICE_HEALTH

SEED = Path(__file__).with_name("services.json")


def prepare(engine: OfflineDeployment) -> dict[str, Any]:
    seed: dict[str, list[dict[str, str]]] = json.loads(SEED.read_text())
    ddb = engine.clients.client("dynamodb")
    for table in (NETWORK_LINKS, DIRECTORY_SYNC, SERVICE_HEALTH):
        for row in seed[table]:
            item = {name: ({"N": value} if name.endswith("_percent") else {"S": value}) for name, value in row.items()}
            ddb.put_item(TableName=engine.physical_ids[table], Item=item)
    return {table: engine.physical_ids[table] for table in (NETWORK_LINKS, DIRECTORY_SYNC, SERVICE_HEALTH)}
