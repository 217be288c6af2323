"""Time, in the two forms Baton stores: ISO-8601 UTC strings for people, epoch seconds for DynamoDB's TTL.

Tests and the offline engine may move the process's clock forward (`advance`), so that a deadline passes without
sleeping (an approval expiring, say): every `now_iso` and `epoch` reads it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

_offset_seconds = 0.0


def epoch() -> float:
    return time.time() + _offset_seconds


def now_iso() -> str:
    return datetime.fromtimestamp(epoch(), UTC).isoformat(timespec="milliseconds")


def advance(seconds: float) -> None:
    """Move the clock forward (offline and in tests only: a deployment never calls this)."""
    global _offset_seconds  # noqa: PLW0603 (one clock per process)
    _offset_seconds += seconds


def reset() -> None:
    global _offset_seconds  # noqa: PLW0603
    _offset_seconds = 0.0


def expires_at_for(retention_days: int, now: float | None = None) -> int:
    """The TTL epoch second of an item kept `retention_days` from `now`."""
    return int((epoch() if now is None else now) + retention_days * 86400)
