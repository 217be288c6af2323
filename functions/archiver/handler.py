"""Archiver Lambda: the state table's stream in, audit records into the Object Lock bucket (baton.archive)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from baton.archive import AuditArchiver
from baton.aws import AwsClients
from baton.observability import logger, tracer
from baton.runtime import build_archiver


@cache
def _archiver() -> AuditArchiver:
    return build_archiver(os.environ, AwsClients())


def handle(event: dict[str, Any], archiver: AuditArchiver) -> dict[str, int]:
    return archiver.handle(event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return handle(event, _archiver())
