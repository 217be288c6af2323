"""Baton's pytest fixtures: a Baton app's workflows, end to end offline, in its own tests.

    def test_default_example(baton_run):
        record = baton_run("triage", {"customer_id": "C-1001", "subject": "Site down"})
        assert record.status.value == "SUCCEEDED"

`baton_engine` (module scope): the offline deployment (LocalEngine, on moto) of the app whose pyproject.toml
is nearest the test module ([tool.baton] catalog), or of the catalog the `baton_catalog` fixture names
(override it to choose: return "myapp.catalog:CATALOG"). `baton_run` (function scope): a function that
starts a workflow with an input dict, waits for its end, verifies the run's signed audit trail, and returns
the RunRecord.

moto is imported only when `baton_engine` is first used, so installing this plugin never breaks a test run
without Baton's offline extra: tests that use the fixtures are skipped, with the reason, instead.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from baton.local.engine import LocalEngine
    from baton.runs import RunRecord
    from baton.testing import BatonRun

DEFAULT_TIMEOUT_SECONDS = 60.0
ENGINE_MODULE = "baton.local.engine"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Import the offline engine after collection, before any test runs, when a test will use it.

    Importing it creates a UDP socket (the X-Ray SDK's emitter, never used offline): a plugin that blocks
    sockets during tests (pytest-socket) would refuse it inside the first test.
    """
    if any("baton_engine" in getattr(item, "fixturenames", ()) for item in items):
        with contextlib.suppress(ModuleNotFoundError):  # no offline extra: baton_engine skips, with the reason
            importlib.import_module(ENGINE_MODULE)


@pytest.fixture(scope="module")
def baton_catalog() -> str | None:
    """The catalog `baton_engine` deploys: None for the nearest pyproject.toml's [tool.baton] catalog."""
    return None


@pytest.fixture(scope="module")
def baton_engine(request: pytest.FixtureRequest, baton_catalog: str | None) -> Iterator[LocalEngine]:
    """One offline deployment of the app per test module (moto's backend is process-wide)."""
    try:
        from baton.local.engine import LocalEngine
    except ModuleNotFoundError as error:
        pytest.skip(f"baton_engine needs Baton's offline extra ({error.name} is missing): pip install 'baton[offline]'")
    from baton.config import app_config

    module_path = getattr(request, "path", None)
    start = Path(module_path).parent if module_path is not None else Path.cwd()
    config = app_config(baton_catalog, cwd=start)
    with LocalEngine(config) as engine:
        yield engine


@pytest.fixture
def baton_run(baton_engine: LocalEngine) -> BatonRun:
    """Run a workflow offline and return its RunRecord (whose signed audit trail has been verified)."""
    from baton.verification import verify_record

    def run(workflow: str, run_input: dict[str, Any], *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> RunRecord:
        record = baton_engine.run(workflow, run_input, timeout_seconds=timeout_seconds)
        verification = verify_record(record.model_dump(mode="json"), baton_engine.public_key(workflow))
        if not verification.ok:
            raise AssertionError(f"the audit trail of run {record.run_id} does not verify: {verification.problems}")
        return record

    return run
