"""API Lambda: starts runs, reports them, takes decisions on their approvals (see baton.api)."""

from __future__ import annotations

import gc
import os

if os.environ.get("LAMBDA_TASK_ROOT"):
    gc.disable()  # for the cold start: resumed when the first invocation ends (baton.observability.cold_start_ends)

from functools import cache
from typing import Any

from baton.aws import AwsClients
from baton.observability import cold_start_ends, logger, tracer
from baton.runtime import ApiServices, build_api


@cache
def _services() -> ApiServices:
    return build_api(os.environ, AwsClients())


def handle(event: dict[str, Any], services: ApiServices) -> dict[str, Any]:
    from baton.api import handle_request  # at the first request: no model is built at import

    return handle_request(event, services.workflows, services.starter, services.store, services.desk)


@cold_start_ends
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _services())
