"""The orchestrator's guarantees that a happy path never shows: replays, races, budgets, planner bugs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.local.engine import create_state_table
from baton.models import Decision, Delegate, Fail, Finish, PlanRequest, RunStatus, RunView, Task
from baton.orchestrator import Orchestrator
from baton.runs import RunStarter
from baton.state import ConcurrentUpdate, StateStore
from refund_app.catalog import CATALOG

TABLE = "state"
FUNCTIONS = {agent: f"fn-{agent}" for agent in CATALOG.workflow("refund").agents}


class Scripted:
    """A planner that returns the decisions it is given, one per call."""

    def __init__(self, *decisions: Decision | Exception) -> None:
        self.decisions = list(decisions)

    def decide(self, run: RunView) -> Decision:
        decision = self.decisions.pop(0)
        if isinstance(decision, Exception):
            raise decision
        return decision


class NoExecutions:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    def start(self, workflow: str, run_id: str) -> None:
        self.started.append((workflow, run_id))


@pytest.fixture
def store() -> Iterator[StateStore]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(ddb, TABLE)
        yield StateStore(ddb, TABLE)


def start(store: StateStore, executions: Any = None, key: str | None = None) -> str:
    starter = RunStarter(CATALOG, store, executions or NoExecutions())
    return starter.start("refund", {"order_id": "ORD-1001", "reason": "too small"}, key).run_id


def orchestrator(store: StateStore, planner: Any) -> Orchestrator:
    return Orchestrator(CATALOG, CATALOG.workflow("refund"), store, planner, FUNCTIONS)


def test_a_replayed_plan_returns_the_committed_decision_without_planning_again(store: StateStore) -> None:
    # Given a stage that was planned and committed (Step Functions then lost the answer and retried)
    run_id = start(store)
    planner = Scripted(Delegate(tasks=[Task(agent="order_lookup")]))
    first = orchestrator(store, planner).plan(PlanRequest(run_id=run_id, stage=0))
    # When the same request arrives again / Then the same answer comes back and the planner is not called
    again = orchestrator(store, planner).plan(PlanRequest(run_id=run_id, stage=0))
    assert again == first
    assert first.kind == "delegate"
    assert first.functions == ["fn-order_lookup"]
    assert first.tasks == [0]


def test_two_orchestrators_racing_on_one_run_cannot_both_commit(store: StateStore) -> None:
    # Given two invocations that both read the run at version 1
    run_id = start(store)
    meta = store.load_meta(run_id)
    store.commit(meta.model_copy(update={"version": 2}), expected_version=1, items=[])
    # When the slower one commits against the version it read / Then it is refused, not silently applied
    with pytest.raises(ConcurrentUpdate):
        store.commit(meta.model_copy(update={"version": 2, "stage": 7}), expected_version=1, items=[])
    assert store.load_meta(run_id).stage == 0


def test_a_planner_that_raises_fails_the_run_instead_of_hanging_it(store: StateStore) -> None:
    run_id = start(store)
    response = orchestrator(store, Scripted(RuntimeError("model returned nonsense"))).plan(
        PlanRequest(run_id=run_id, stage=0)
    )
    assert response.kind == "fail"
    assert "model returned nonsense" in response.reason
    assert store.load_meta(run_id).status is RunStatus.FAILED


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        (Delegate(tasks=[Task(agent="order_lookup")] * 5), "exceeds 4"),
        (Delegate(tasks=[Task(agent="order_lookup", key="order_id")]), "overwrite the run's input"),
        (Delegate(tasks=[Task(agent="order_lookup"), Task(agent="order_lookup")]), "repeat"),
    ],
)
def test_guardrails_turn_a_bad_delegation_into_an_audited_denial(
    store: StateStore, decision: Decision, reason: str
) -> None:
    run_id = start(store)
    response = orchestrator(store, Scripted(decision)).plan(PlanRequest(run_id=run_id, stage=0))
    assert response.kind == "fail"
    assert reason in response.reason
    kinds = [r["kind"] for r in store.load_audit(run_id, store.load_meta(run_id).audit_seq)]
    assert kinds == ["run_started", "denial", "decision", "run_failed"]


def test_the_stage_budget_is_enforced_across_invocations(store: StateStore) -> None:
    # Given a workflow allowed 8 stages and a planner that never stops delegating
    run_id = start(store)
    budget = CATALOG.workflow("refund").budgets.max_stages
    planner = Scripted(*[Delegate(tasks=[Task(agent="order_lookup")]) for _ in range(budget + 1)])
    stage = 0
    for _ in range(budget):
        stage = orchestrator(store, planner).plan(PlanRequest(run_id=run_id, stage=stage)).stage
    # When it asks for one more / Then the run fails on its budget
    last = orchestrator(store, planner).plan(PlanRequest(run_id=run_id, stage=stage))
    assert last.kind == "fail"
    assert f"budget of {budget} stages" in last.reason


def test_a_finished_run_keeps_its_result_and_answers_replays(store: StateStore) -> None:
    run_id = start(store)
    planner = Scripted(Finish(result={"outcome": "done"}), Fail(reason="never asked"))
    done = orchestrator(store, planner).plan(PlanRequest(run_id=run_id, stage=0))
    assert orchestrator(store, planner).plan(PlanRequest(run_id=run_id, stage=0)) == done
    meta = store.load_meta(run_id)
    assert (meta.status, meta.result) == (RunStatus.SUCCEEDED, {"outcome": "done"})


def test_an_idempotency_key_starts_one_run_only(store: StateStore) -> None:
    executions = NoExecutions()
    first = start(store, executions, key="req-42")
    second = start(store, executions, key="req-42")
    assert first == second
    # the execution start is repeated (harmless: named after the run) in case the first request died before it
    assert executions.started == [("refund", first), ("refund", first)]


def test_an_idempotency_key_reused_for_a_different_request_is_refused(store: StateStore) -> None:
    from baton.state import IdempotencyConflict

    starter = RunStarter(CATALOG, store, NoExecutions())
    starter.start("refund", {"order_id": "ORD-1001"}, "req-7")
    with pytest.raises(IdempotencyConflict, match="different request"):
        starter.start("refund", {"order_id": "ORD-1002"}, "req-7")


def test_an_idempotent_repeat_never_starts_a_second_express_execution(store: StateStore) -> None:
    # Given an Express workflow, whose executions are not deduplicated by name
    from tests.express_catalog import CATALOG as EXPRESS

    executions = NoExecutions()
    starter = RunStarter(EXPRESS, store, executions)
    # When the same request arrives twice / Then one run, one execution
    first = starter.start("refund", {"order_id": "ORD-1001"}, "req-9").run_id
    assert starter.start("refund", {"order_id": "ORD-1001"}, "req-9").run_id == first
    assert executions.started == [("refund", first)]
