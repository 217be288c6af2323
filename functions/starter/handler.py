"""Starter Lambda: drains a subscribing workflow's trigger queue and starts one run per event (see baton.triggers).

Partial batch responses (Powertools BatchProcessor, `ReportBatchItemFailures` on the event source): a record whose
event is invalid, or whose start failed, is reported as failed and delivered again; after the queue's
maxReceiveCount its redrive policy moves it to the dead-letter queue. The others are deleted by Lambda.
"""

from __future__ import annotations

import gc
import os

if os.environ.get("LAMBDA_TASK_ROOT"):
    gc.disable()  # for the cold start: resumed when the first invocation ends (baton.observability.cold_start_ends)

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from baton.aws import AwsClients
from baton.observability import cold_start_ends, logger, tracer
from baton.runtime import build_starter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from baton.triggers import EventStarter


@cache
def _starter() -> EventStarter:
    return build_starter(os.environ, AwsClients())


def handle(event: dict[str, Any], starter: EventStarter, context: Any = None) -> dict[str, Any]:
    """Start the runs a batch of SQS records asks for: {"batchItemFailures": [...]} names the records that failed."""

    def record_handler(record: SQSRecord) -> str:
        started = starter.start(record.body)
        logger.info(
            "run started by an event" if not started.repeated else "event already started its run",
            extra={"run_id": started.run_id, "message_id": record.message_id},
        )
        return started.run_id

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    )


@cold_start_ends
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, _starter(), context)
