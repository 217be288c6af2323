"""Orchestrator Lambda: one invocation per stage of a run (see baton.orchestrator)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from baton.aws import AwsClients
from baton.models import PlanRequest
from baton.observability import correlated, logger, tracer
from baton.orchestrator import Orchestrator
from baton.runtime import build_orchestrator


@cache
def _orchestrator() -> Orchestrator:
    return build_orchestrator(os.environ, AwsClients())


def handle(event: dict[str, Any], orchestrator: Orchestrator) -> dict[str, Any]:
    request = PlanRequest.model_validate(event)
    with correlated(request.run_id, stage=request.stage):
        response = orchestrator.plan(request)
        logger.info("stage planned", extra={"kind": response.kind, "next_stage": response.stage})
        return response.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _orchestrator())
