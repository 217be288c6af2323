"""Orchestrator Lambda: one invocation per stage of a run (see baton.orchestrator).

It also closes runs whose execution ended outside its hands, so that no run is left RUNNING whatever stopped
its execution: for a Standard workflow, on the "Step Functions Execution Status Change" events of executions
that failed, timed out or were aborted (an EventBridge rule); for an Express workflow, whose executions emit
no such events, on a schedule (`{"sweep": true}`), by each open run's deadline.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton.aws import AwsClients
from baton.models import PlanRequest
from baton.observability import correlated, logger, tracer
from baton.orchestrator import Orchestrator
from baton.runtime import build_orchestrator

STATUS_CHANGE = "Step Functions Execution Status Change"
# what the schedule of an Express workflow sends
SWEEP = {"sweep": True}


class _ExecutionDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")  # an AWS event: read what is needed, ignore the rest

    execution_arn: str = Field(alias="executionArn")
    name: str
    status: str


@cache
def _orchestrator() -> Orchestrator:
    return build_orchestrator(os.environ, AwsClients())


def handle(event: dict[str, Any], orchestrator: Orchestrator) -> dict[str, Any]:
    if event == SWEEP:
        closed = orchestrator.sweep()
        logger.info("swept open runs", extra={"closed": closed})
        return {"closed": closed}
    if event.get("detail-type") == STATUS_CHANGE:
        detail = _ExecutionDetail.model_validate(event.get("detail"))
        with correlated(detail.name):
            response = orchestrator.close(detail.name, detail.execution_arn, f"execution {detail.status}")
            logger.info("execution ended outside the run", extra={"status": detail.status})
            return response.model_dump(mode="json")
    request = PlanRequest.model_validate(event)
    with correlated(request.run_id, stage=request.stage):
        response = orchestrator.handle(request)
        logger.info("stage planned", extra={"kind": response.kind, "next_stage": response.stage})
        return response.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _orchestrator())
