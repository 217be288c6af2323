"""Agent Lambda: every agent runs this handler; BATON_AGENT names which agent of the catalog it is."""

from __future__ import annotations

import gc
import os

if os.environ.get("LAMBDA_TASK_ROOT"):
    gc.disable()  # for the cold start: resumed when the first invocation ends (baton.observability.cold_start_ends)

from functools import cache
from typing import TYPE_CHECKING, Any

from baton.aws import AwsClients
from baton.observability import cold_start_ends, correlated, logger, tracer
from baton.runtime import build_agent_runner

if TYPE_CHECKING:
    from baton.agent_runner import AgentRunner


@cache
def _runner() -> AgentRunner:
    return build_agent_runner(os.environ, AwsClients())


def handle(event: dict[str, Any], runner: AgentRunner) -> dict[str, Any]:
    # pydantic and Baton's models are loaded by the first invocation, not by the import of this module
    from baton.task_models import AgentRequest

    request = AgentRequest.model_validate(event)
    with correlated(request.run_id, stage=request.stage, task=request.index, attempt=request.attempt):
        result = runner.run(request)
        logger.info("task attempt reported", extra={"retry": result.retry})
        return result.model_dump(mode="json")


@cold_start_ends
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _runner())
