"""Copies audit records from the state table's stream into the Object Lock archive bucket (AWS only).

The bucket's default retention is compliance mode: once written, nobody (root included) can delete or
overwrite an archived record before it expires. Only committed records reach the stream, so the archive
holds exactly what the orchestrator committed, each record with the head signature its commit carried.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from baton import keys
from baton.attribute_values import from_item


def archive_key(workflow: str, run_id: str, first_seq: int, last_seq: int) -> str:
    return f"{keys.AUDIT_ARCHIVE_PREFIX}{workflow}/{run_id}/{first_seq:08d}-{last_seq:08d}.json"


class AuditArchiver:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def handle(self, event: dict[str, Any]) -> dict[str, int]:
        """One batch of DynamoDB stream records; one object per run per batch (a commit's records arrive together)."""
        by_run: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for record in event.get("Records", []):
            image = record.get("dynamodb", {}).get("NewImage")
            if record.get("eventName") not in {"INSERT", "MODIFY"} or not image:
                continue
            item = from_item(image)
            if not str(item.get("sk", "")).startswith(keys.AUDIT_PREFIX):
                continue
            audit: dict[str, Any] = json.loads(item["record_json"])
            if "signature" in item:
                audit["signature"] = item["signature"]
            by_run[(audit["workflow"], audit["run_id"])].append(audit)
        for (workflow, run_id), records in by_run.items():
            records.sort(key=lambda r: r["seq"])
            self._s3.put_object(
                Bucket=self._bucket,
                Key=archive_key(workflow, run_id, records[0]["seq"], records[-1]["seq"]),
                Body=json.dumps(records, sort_keys=True).encode(),
                ContentType="application/json",
            )
        return {"archived": sum(len(r) for r in by_run.values()), "objects": len(by_run)}
