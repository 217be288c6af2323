"""Adding a workflow to a catalog breaks nothing: the test app plus one more workflow deploys, derives its roles
and runs every workflow it had, with the same outcomes, beside the new one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.catalog import Catalog, WorkflowSpec
from baton.iam import all_roles
from baton.local.engine import LocalEngine
from baton.models import RunStatus
from tests.testapp import models
from tests.testapp.catalog import CATALOG as TEST_APP

# the test app's workflows and an input each, with the outcome each must keep
RUNS = {
    "relay": ({"item_id": "IT-1"}, RunStatus.SUCCEEDED),
    "relay-express": ({"item_id": "IT-1"}, RunStatus.SUCCEEDED),
    "fanout": ({"item_id": "IT-2"}, RunStatus.SUCCEEDED),
    "payout": ({"item_id": "IT-1"}, RunStatus.SUCCEEDED),
}
EXTRA = WorkflowSpec(
    name="score-only",
    description="a fifth workflow, added to the catalog",
    input_model=models.FanoutRequest,
    planner="tests.testapp.planners:RelayPlanner",
    agents=("reader", "scorer", "notifier"),
    trusted_input_keys=("item_id",),
)
GROWN: Catalog = Catalog.merge(TEST_APP, TEST_APP.model_copy(update={"workflows": {EXTRA.name: EXTRA}}))


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.local.test_catalog_growth:GROWN") as local:
        yield local


def test_the_runs_list_covers_every_workflow_of_the_test_app() -> None:
    # if the test app gains a workflow, this table must name it: the growth check then covers it too
    assert set(RUNS) == set(TEST_APP.workflows)


def test_every_role_is_still_derived_and_the_new_workflow_gets_its_own() -> None:
    before = {(r.component, r.name): r for r in all_roles(TEST_APP)}
    after = {(r.component, r.name): r for r in all_roles(GROWN)}
    new = set(after) - set(before)
    assert {name for _, name in new} == {EXTRA.name}
    # every role the test app had is unchanged, except the API's, which now also serves the new workflow
    changed = {key for key in before if before[key] != after[key]}
    assert {component.value for component, _ in changed} == {"api"}


@pytest.mark.parametrize("workflow", sorted(RUNS))
def test_every_workflow_runs_as_before_beside_the_new_one(engine: LocalEngine, workflow: str) -> None:
    run_input, status = RUNS[workflow]
    assert engine.run(workflow, run_input, timeout_seconds=60).status is status


def test_the_new_workflow_runs(engine: LocalEngine) -> None:
    assert engine.run(EXTRA.name, {"item_id": "IT-1"}, timeout_seconds=60).status is RunStatus.SUCCEEDED
