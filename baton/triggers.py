"""The event-driven pattern: an EventBridge event starts a run of the workflow whose trigger matches it.

An agent publishes an event on a catalog event bus (`publish_event`: the publishing run's id in the detail's
`publisher`). Each subscribing workflow's rule (its `EventTrigger` pattern) sends a matching event to that
workflow's own SQS queue; the workflow's starter function drains the queue (partial batch responses): for each
record, `EventStarter.start` validates the event's detail (without `publisher`) against the workflow's input model,
derives the run id from the event id (keys.derived_run_id: a duplicate delivery maps to the same run, started once)
and starts the run through the API's own run starter (baton.runs.RunStarter), recording the event in the run (its
start request, run record and RUN_STARTED audit record). A record that fails raises: the batch reports it as an item
failure, SQS delivers it again, and after `max_receive_count` receives the queue's redrive policy moves it to the
dead-letter queue. Nothing is lost, and nothing invalid starts a run.

Workflows never know each other: a publisher names a bus, source and detail type; a subscriber names a pattern.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton import keys
from baton.catalog import EventTrigger, WorkflowSpec
from baton.models import TriggerEvent
from baton.runs import InvalidRunInput, RunStarter, StartedRun

# the detail key a Baton publisher puts its run in (never part of a subscriber's input)
PUBLISHER = "publisher"
# how the rule of a workflow's trigger is named (on AWS, CDK names it; offline and in the caller field, this)
RULE_PREFIX = "baton-trigger-"


def rule_name(workflow: str) -> str:
    return f"{RULE_PREFIX}{workflow}"


def caller_of_trigger(bus: str, workflow: str) -> str:
    """Who starts a triggered run: the rule, as the run's caller (a run is visible to its workflow's readers)."""
    return f"eventbridge:{bus}/{rule_name(workflow)}"


class InvalidEvent(ValueError):
    """An event the starter refuses: its record fails, and the queue's redrive dead-letters it."""


class _Envelope(BaseModel):
    """The EventBridge envelope as a rule delivers it to SQS (the message body)."""

    # defer_build: built at first use (see models.Strict)
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    id: str = Field(min_length=1, max_length=128)
    source: str
    detail_type: str = Field(alias="detail-type")
    time: str | None = None
    detail: dict[str, Any]


class _Publisher(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built at first use (see models.Strict)

    run_id: str = Field(pattern=keys.RUN_ID_PATTERN)
    workflow: str | None = None


def publisher_detail(run_id: str, detail: dict[str, Any]) -> dict[str, Any]:
    """A Baton agent's event detail: its data plus the publishing run (what a publish tool puts on the bus)."""
    return {**detail, PUBLISHER: {"run_id": run_id, "workflow": keys.workflow_of(run_id)}}


def publish_event(
    events_client: Any, bus: str, source: str, detail_type: str, run_id: str, detail: dict[str, Any]
) -> str:
    """PutEvents one event on `bus` (a name or ARN) naming the publishing run; its event id."""
    response = events_client.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(publisher_detail(run_id, detail)),
            }
        ]
    )
    if response.get("FailedEntryCount"):
        entry = response["Entries"][0]
        raise RuntimeError(f"event not published: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
    return str(response["Entries"][0]["EventId"])


@dataclass(frozen=True)
class EventStarter:
    """Starts a workflow's runs from the events its trigger delivers (one per workflow: its starter function)."""

    workflow: WorkflowSpec
    starter: RunStarter

    @property
    def trigger(self) -> EventTrigger:
        if not self.workflow.triggers:
            raise ValueError(f"workflow {self.workflow.name!r} declares no trigger")
        return self.workflow.triggers[0]

    def start(self, body: str) -> StartedRun:
        """Start the run an SQS message body (an EventBridge event) asks for; InvalidEvent if it asks for none."""
        try:
            envelope = _Envelope.model_validate_json(body)
        except ValidationError as error:
            raise InvalidEvent(f"not an EventBridge event: {error.error_count()} problem(s)") from None
        detail = dict(envelope.detail)
        raw_publisher = detail.pop(PUBLISHER, None)
        try:
            publisher = None if raw_publisher is None else _Publisher.model_validate(raw_publisher)
        except ValidationError:
            raise InvalidEvent(f"event {envelope.id}: its publisher is not a run") from None
        trigger = TriggerEvent(
            bus=self.trigger.bus,
            rule=rule_name(self.workflow.name),
            source=envelope.source,
            detail_type=envelope.detail_type,
            event_id=envelope.id,
            time=envelope.time,
            publishing_run_id=None if publisher is None else publisher.run_id,
            publishing_workflow=None if publisher is None else keys.workflow_of(publisher.run_id),
        )
        try:
            return self.starter.start(
                self.workflow.name,
                detail,
                caller_of_trigger(self.trigger.bus, self.workflow.name),
                run_id=keys.derived_run_id(self.workflow.name, f"event:{envelope.id}"),
                trigger=trigger,
            )
        except InvalidRunInput as error:
            raise InvalidEvent(f"event {envelope.id}: {error}") from None
