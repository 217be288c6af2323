"""The seed's event-driven pattern, end to end offline: detection publishes a finding on the findings bus; moto's
EventBridge matches the subscribers' rule patterns and delivers to their queues; the engine drains them with the
starter function's own code, which starts the enrichment and notification runs through the API's run starter.

`baton_engine` is Baton's pytest fixture: the offline deployment of this app. Each test runs its own events and
drains the queues before it ends, so each passes alone.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from baton import keys
from baton.local.engine import LocalEngine
from baton.models import RunStatus
from baton.verification import verify_record
from security_alerting_app.names import BUS, DETAIL_TYPE, SOURCE

EXAMPLES = Path(__file__).resolve().parents[1]
DETECTION = "security-alerting"
SUBSCRIBERS = ("alert-enrichment", "alert-notification")
FINDING = {
    "finding_id": "f-0123456789abcdef",
    "account_id": "111122223333",
    "resource_id": "scratch-bucket",
    "signal": "open-security-group",
    "severity": "medium",
}


@pytest.fixture(scope="module")
def engine(baton_engine: LocalEngine) -> LocalEngine:
    return baton_engine


def _put(engine: LocalEngine, detail: dict[str, Any]) -> str:
    response = engine.clients.client("events").put_events(
        Entries=[
            {
                "EventBusName": engine.physical_ids[BUS],
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(detail),
            }
        ]
    )
    return str(response["Entries"][0]["EventId"])


def _envelope(event_id: str, detail: dict[str, Any]) -> str:
    """An event as a rule delivers it to a queue (what a duplicate delivery repeats, id included)."""
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": "123456789012",
            "time": "2026-11-25T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


def test_the_default_finding_starts_enrichment_and_notification_runs_that_record_its_event(
    engine: LocalEngine,
) -> None:
    # Given the detection run of the default input, which published a high-severity finding
    detection = engine.run(DETECTION, json.loads((EXAMPLES / "default.json").read_text()), timeout_seconds=60)
    assert detection.status is RunStatus.SUCCEEDED, detection.reason
    assert detection.result is not None
    event_id = detection.result["event_id"]
    # When the subscribers' queues are drained
    triggered = {record.workflow: record for record in engine.wait_triggered(detection.run_id, timeout_seconds=60)}
    # Then each subscriber ran once, succeeded, and records the event that started it (state and audit)
    assert set(triggered) == set(SUBSCRIBERS)
    for workflow, record in triggered.items():
        assert record.status is RunStatus.SUCCEEDED, record.reason
        assert record.run_id == keys.derived_run_id(workflow, f"event:{event_id}")
        assert record.trigger is not None
        assert record.trigger.event_id == event_id
        assert record.trigger.publishing_run_id == detection.run_id
        assert (record.trigger.source, record.trigger.detail_type, record.trigger.bus) == (SOURCE, DETAIL_TYPE, BUS)
        started = record.audit[0]
        assert started["kind"] == "run_started"
        assert started["detail"]["trigger"]["event_id"] == event_id  # type: ignore[index, call-overload]
        assert verify_record(record.model_dump(mode="json"), engine.public_key(workflow)).ok
    assert triggered["alert-enrichment"].result is not None
    assert triggered["alert-enrichment"].result["priority"] == "p1"
    assert triggered["alert-notification"].result is not None
    assert triggered["alert-notification"].result["team"] == "payments"


def test_a_medium_finding_starts_only_enrichment(engine: LocalEngine) -> None:
    # Given a medium-severity finding on the bus (notification's pattern wants high or critical)
    event_id = _put(engine, FINDING)
    # When the queues are drained
    started = engine.drain_triggers()
    # Then only enrichment started a run for it
    assert started == [keys.derived_run_id("alert-enrichment", f"event:{event_id}")]
    assert engine.wait(started[0], timeout_seconds=60).status is RunStatus.SUCCEEDED


def test_a_malformed_event_is_dead_lettered_and_starts_no_run(engine: LocalEngine) -> None:
    # Given an event that matches both rules, but whose detail fails the subscribers' input model (an extra field,
    # a severity that is not one)
    malformed = FINDING | {"severity": "critical", "note": "ignore previous instructions"}
    event_id = _put(engine, malformed)
    # When the queues are drained (each receive fails the record, until the redrive policy moves it)
    assert engine.drain_triggers() == []
    # Then nothing started, and nothing is lost: the event sits in each subscriber's dead-letter queue
    for workflow in SUBSCRIBERS:
        assert engine.store.load_start(keys.derived_run_id(workflow, f"event:{event_id}")) is None
        assert event_id in [event["id"] for event in engine.dead_letters(workflow)]


def test_a_duplicate_event_starts_one_run(engine: LocalEngine) -> None:
    # Given the very same event delivered twice to enrichment's queue (SQS delivers at least once)
    event_id = str(uuid.uuid4())
    sqs = engine.clients.client("sqs")
    queue = engine.deployment.trigger_queues["alert-enrichment"]
    for _ in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody=_envelope(event_id, FINDING))
    # When the queue is drained
    started = engine.drain_triggers()
    # Then both deliveries name one run, and one execution runs it
    run_id = keys.derived_run_id("alert-enrichment", f"event:{event_id}")
    assert started == [run_id, run_id]
    assert engine.wait(run_id, timeout_seconds=60).status is RunStatus.SUCCEEDED
    machine = engine.state_machines["alert-enrichment"]
    executions = engine.clients.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert [e["name"] for e in executions].count(run_id) == 1
