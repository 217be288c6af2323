"""Injection detection in a whole support-triage run, offline: the app's own catalog with the built-in detector
declared (`injection_detector="builtin"`), its gullible model doubles, the real state machine on moto.

What is proven: an injected customer message is flagged where it enters the run (its context entry), its verdict is
in the signed audit chain without its text, the model planner is shown the flag (its data block says so, and
`RunView.describe` has it), and every task that receives the message, or params the planner chose after reading it,
carries the key in `TaskInput.flagged_keys`; a benign message's run has no flag anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baton.catalog import Catalog, build_catalog
from baton.local.engine import LocalEngine
from baton.local.model_doubles import Recorded, user_texts
from baton.models import RunView, TaskInput
from baton.runs import RunRecord
from baton.verification import verify_record
from support_triage_app.catalog import CATALOG as SUPPORT_CATALOG
from support_triage_app.catalog import WORKFLOW

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-triage"
PLANNER = f"planner:{WORKFLOW.name}"

# the support-triage app as declared, with the built-in detector: the one line a team adds to turn detection on
CATALOG: Catalog = build_catalog(
    resources=list(SUPPORT_CATALOG.resources.values()),
    tools=list(SUPPORT_CATALOG.tools.values()),
    agents=list(SUPPORT_CATALOG.agents.values()),
    workflows=[WORKFLOW.model_copy(update={"injection_detector": "builtin"})],
)


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.local.test_detection_run:CATALOG") as local:
        yield local


def _run(engine: LocalEngine, name: str) -> tuple[RunRecord, Recorded]:
    planner = Recorded(engine.models[PLANNER])
    engine.use_model(PLANNER, planner)
    try:
        run_input = json.loads((EXAMPLE / f"{name}.json").read_text())
        record = engine.run(WORKFLOW.name, run_input, timeout_seconds=60)
    finally:
        engine.use_model(PLANNER, planner.double)
    verification = verify_record(record.model_dump(mode="json"), engine.public_key(WORKFLOW.name))
    assert verification.ok, verification.problems
    return record, planner


def _verdicts(record: RunRecord) -> list[dict[str, Any]]:
    return [e["detail"] for e in record.audit if e["kind"] == "injection_verdict"]  # type: ignore[misc]


def _tasks(engine: LocalEngine, record: RunRecord) -> list[TaskInput]:
    found = [engine.store.load_task(record.run_id, step.stage, step.index) for step in record.steps]
    return [task for task in found if task is not None]


@pytest.mark.attack("ASI01")
def test_an_injected_customer_message_is_flagged_audited_shown_to_the_planner_and_carried_to_tasks(
    engine: LocalEngine,
) -> None:
    # Given the support-triage example whose customer message carries an injected instruction
    # When it runs offline with the built-in detector declared
    record, planner = _run(engine, "injected")
    # Then the message's context entry is flagged (the trusted customer and order ids are not scanned)
    assert record.context["message"].flagged
    assert not record.context["customer_id"].flagged
    assert not record.context["order_id"].flagged
    # and its verdict is in the signed audit chain: detector, key, score, signals, never the text
    message = [v for v in _verdicts(record) if v["key"] == "message"]
    assert len(message) == 1
    assert (message[0]["status"], message[0]["detector"], message[0]["source"]) == ("flagged", "builtin-rules", "input")
    assert message[0]["score"] >= 0.5
    assert "override_instructions" in message[0]["signals"]
    assert "ACCT-66600113" not in json.dumps(_verdicts(record))
    # and the planner saw the flag: its data block says so, and the view's shape of the value has it
    first = "\n".join(user_texts(planner.requests[0]))
    assert 'key="message" source="input" trust="untrusted" flagged="injection suspected"' in first
    view = RunView(record.run_id, WORKFLOW.name, 1, context=record.context)
    shape = view.describe("message")
    assert shape is not None
    assert shape.flagged
    # and every task that received the message, or params chosen after reading it, carries the flag
    tasks = _tasks(engine, record)
    assert tasks
    for task in tasks:
        expected = set(task.payload) & ({"message"} | set(task.untrusted_keys) - {"customer_id", "order_id"})
        assert set(task.flagged_keys) == expected, (task.agent, task.flagged_keys)
        assert set(task.flagged_keys) <= set(task.untrusted_keys)
    assert any(task.flagged_keys for task in tasks)


def test_a_benign_message_leaves_no_flag_anywhere(engine: LocalEngine) -> None:
    # Given the default example (a customer asking about returns) / When it runs with the built-in detector
    record, planner = _run(engine, "default")
    # Then the message was scanned and found clean, nothing in the context is flagged, no task carries a flag
    assert [v["status"] for v in _verdicts(record) if v["key"] == "message"] == ["clean"]
    assert not any(entry.flagged for entry in record.context.values())
    assert all(task.flagged_keys == [] for task in _tasks(engine, record))
    assert "flagged=" not in "\n".join(user_texts(planner.requests[0]))
