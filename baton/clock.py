"""Time, in the two forms Baton stores: ISO-8601 UTC strings for people, epoch seconds for DynamoDB's TTL."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def expires_at_for(retention_days: int, now: float | None = None) -> int:
    """The TTL epoch second of an item kept `retention_days` from `now`."""
    return int((time.time() if now is None else now) + retention_days * 86400)
