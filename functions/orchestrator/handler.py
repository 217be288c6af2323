"""Orchestrator Lambda: one invocation per stage of a run (see baton.orchestrator).

It also closes runs whose execution ended outside its hands, so that no run is left RUNNING whatever stopped
its execution: for a Standard workflow, on the "Step Functions Execution Status Change" events of executions
that failed, timed out or were aborted (an EventBridge rule); for an Express workflow, whose executions emit
no such events, on a schedule (`{"sweep": true}`), by each open run's deadline.
"""

from __future__ import annotations

import gc
import os

if os.environ.get("LAMBDA_TASK_ROOT"):
    gc.disable()  # for the cold start: resumed when the first invocation ends (baton.observability.cold_start_ends)

from functools import cache
from typing import TYPE_CHECKING, Any

from baton.aws import AwsClients
from baton.observability import cold_start_ends, correlated, logger, tracer
from baton.runtime import build_orchestrator

if TYPE_CHECKING:
    from baton.orchestrator import Orchestrator

STATUS_CHANGE = "Step Functions Execution Status Change"
# what the schedule of an Express workflow sends
SWEEP = {"sweep": True}


@cache
def _execution_detail() -> Any:
    """The model of a status change's detail, made at the first such event (pydantic is not loaded at import)."""
    from pydantic import BaseModel, ConfigDict, Field

    class _ExecutionDetail(BaseModel):
        model_config = ConfigDict(extra="ignore")  # an AWS event: read what is needed, ignore the rest

        execution_arn: str = Field(alias="executionArn")
        name: str
        status: str

    return _ExecutionDetail


@cache
def _orchestrator() -> Orchestrator:
    return build_orchestrator(os.environ, AwsClients())


def handle(event: dict[str, Any], orchestrator: Orchestrator) -> dict[str, Any]:
    # pydantic and Baton's models are loaded by the first invocation, not by the import of this module
    from baton.models import PlanRequest

    if event == SWEEP:
        closed = orchestrator.sweep()
        logger.info("swept open runs", extra={"closed": closed})
        return {"closed": closed}
    if event.get("detail-type") == STATUS_CHANGE:
        detail = _execution_detail().model_validate(event.get("detail"))
        with correlated(detail.name):
            response = orchestrator.close(detail.name, detail.execution_arn, f"execution {detail.status}")
            logger.info("execution ended outside the run", extra={"status": detail.status})
            return response.model_dump(mode="json")
    request = PlanRequest.model_validate(event)
    with correlated(request.run_id, stage=request.stage):
        response = orchestrator.handle(request)
        logger.info("stage planned", extra={"kind": response.kind, "next_stage": response.stage})
        return response.model_dump(mode="json")


@cold_start_ends
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _orchestrator())
