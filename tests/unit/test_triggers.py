"""The event-driven pattern's starter (baton.triggers, functions/starter): an event's detail is validated against
the subscribing workflow's input model, the run id is derived from the event id, the triggering event is handed to
the run starter, and the starter function reports exactly the records that failed (Powertools partial batch)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton import keys
from baton.functions.starter.handler import handle
from baton.runs import InvalidRunInput, StartedRun
from baton.triggers import EventStarter, InvalidEvent, publisher_detail
from security_alerting_app.catalog import CATALOG

WORKFLOW = CATALOG.workflow("alert-enrichment")
FINDING = {
    "finding_id": "f-0123456789abcdef",
    "account_id": "111122223333",
    "resource_id": "scratch-bucket",
    "signal": "open-security-group",
    "severity": "medium",
}
PUBLISHER = "security-alerting_20261125T000000-0123456789ab"


class _Starter:
    """Stands in for baton.runs.RunStarter: validates as it does, records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def start(self, workflow: str, raw_input: Any, caller: str, **options: Any) -> StartedRun:
        try:
            CATALOG.workflow(workflow).input_model.model_validate(raw_input)
        except ValueError:
            raise InvalidRunInput("invalid") from None
        self.asked.append({"workflow": workflow, "input": raw_input, "caller": caller, **options})
        return StartedRun(run_id=options["run_id"], workflow=workflow, repeated=False)


def _event(event_id: str, detail: dict[str, Any]) -> str:
    return json.dumps({"id": event_id, "source": "baton.security-alerting", "detail-type": "Finding", "detail": detail})


def _record(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": "r", "body": body, "attributes": {}, "eventSource": "aws:sqs"}


def test_an_event_starts_the_run_its_id_derives_and_records_the_publishing_run() -> None:
    fake = _Starter()
    starter = EventStarter(WORKFLOW, fake)  # type: ignore[arg-type]
    started = starter.start(_event("e-1", publisher_detail(PUBLISHER, FINDING)))
    assert started.run_id == keys.derived_run_id("alert-enrichment", "event:e-1")
    (asked,) = fake.asked
    assert asked["input"] == FINDING  # the publisher is no part of the subscriber's input
    assert asked["trigger"].event_id == "e-1"
    assert asked["trigger"].publishing_run_id == PUBLISHER
    assert asked["trigger"].publishing_workflow == "security-alerting"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"id": "e-2", "detail": FINDING}),  # no source, no detail-type: not an EventBridge event
        _event("e-3", FINDING | {"extra": "field"}),
        _event("e-4", FINDING | {"publisher": {"run_id": "not a run id"}}),
    ],
)
def test_an_invalid_event_is_refused(body: str) -> None:
    with pytest.raises(InvalidEvent):
        EventStarter(WORKFLOW, _Starter()).start(body)  # type: ignore[arg-type]


def test_the_starter_function_reports_exactly_the_failed_records() -> None:
    starter = EventStarter(WORKFLOW, _Starter())  # type: ignore[arg-type]
    event = {
        "Records": [
            _record("m-1", _event("e-1", FINDING)),
            _record("m-2", _event("e-2", FINDING | {"severity": "apocalyptic"})),
            _record("m-3", _event("e-3", FINDING)),
        ]
    }
    assert handle(event, starter) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
