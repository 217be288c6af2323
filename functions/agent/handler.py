"""Agent Lambda: every agent runs this handler; BATON_AGENT names which agent of the catalog it is."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from baton.agent_runner import AgentRunner
from baton.aws import AwsClients
from baton.models import AgentRequest
from baton.observability import correlated, logger, tracer
from baton.runtime import build_agent_runner


@cache
def _runner() -> AgentRunner:
    return build_agent_runner(os.environ, AwsClients())


def handle(event: dict[str, Any], runner: AgentRunner) -> dict[str, Any]:
    request = AgentRequest.model_validate(event)
    with correlated(request.run_id, stage=request.stage, task=request.index, attempt=request.attempt):
        result = runner.run(request)
        logger.info("task attempt reported", extra={"retry": result.retry})
        return result.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _runner())
