"""No run is ever left RUNNING once its execution ends: an orchestrator that crashes mid-run (its own module:
the crashing deployment is a LocalEngine of its own, and moto is process-wide)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from baton.local.engine import LocalEngine
from baton.local.functions import orchestrator_function_name
from baton.local.moto_patches import Handler
from baton.models import RunStatus
from baton.verification import verify_record
from tests.local.conftest import TEST_APP


@pytest.fixture(scope="module")
def broken_orchestrator() -> Iterator[LocalEngine]:
    """The test app, with the relay orchestrator crashing on every Plan after the first (a bug, a bad deploy)."""
    plans: dict[str, int] = {}

    def wrap(name: str, handler: Handler) -> Handler:
        if name != orchestrator_function_name("relay"):
            return handler

        def crashing(event: dict[str, Any]) -> Any:
            if "run_id" in event and "failure" not in event:
                plans[event["run_id"]] = plans.get(event["run_id"], 0) + 1
                if plans[event["run_id"]] > 1:
                    raise RuntimeError("orchestrator bug")
            return handler(event)

        return crashing

    with LocalEngine(TEST_APP, wrap_handler=wrap) as local:
        yield local


@pytest.mark.attack("ASI08")
def test_a_crashing_plan_state_leaves_no_run_running(broken_orchestrator: LocalEngine) -> None:
    # Given an orchestrator that crashes after the first stage / When a run goes through it
    record = broken_orchestrator.run("relay", {"item_id": "IT-1"}, timeout_seconds=60)
    verification = verify_record(record.model_dump(mode="json"), broken_orchestrator.public_key("relay"))
    assert verification.ok, verification.problems
    # Then the Plan state's Catch has the orchestrator close the run: FAILED with the reason, signed, final
    assert record.status is RunStatus.FAILED
    assert record.reason == "orchestration failed: RuntimeError"
    assert record.audit[-1]["kind"] == "run_failed"
