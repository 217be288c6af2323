"""API Lambda: starts runs and reports them (see baton.api)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from baton.api import handle_request
from baton.aws import AwsClients
from baton.observability import logger, tracer
from baton.runs import RunStarter
from baton.runtime import build_run_starter
from baton.state import StateStore


@cache
def _services() -> tuple[RunStarter, StateStore]:
    return build_run_starter(os.environ, AwsClients())


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    starter, store = _services()
    return handle_request(event, starter, store)
