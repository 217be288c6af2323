"""Archiver Lambda: the state table's stream in, audit records into the Object Lock bucket (baton.archive)."""

from __future__ import annotations

import gc
import os

if os.environ.get("LAMBDA_TASK_ROOT"):
    gc.disable()  # for the cold start: resumed when the first invocation ends (baton.observability.cold_start_ends)

from functools import cache
from typing import TYPE_CHECKING, Any

from baton.aws import AwsClients
from baton.observability import cold_start_ends, logger, tracer
from baton.runtime import build_archiver

if TYPE_CHECKING:
    from baton.archive import AuditArchiver


@cache
def _archiver() -> AuditArchiver:
    return build_archiver(os.environ, AwsClients())


def handle(event: dict[str, Any], archiver: AuditArchiver) -> dict[str, int]:
    return archiver.handle(event)


@cold_start_ends
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return handle(event, _archiver())
