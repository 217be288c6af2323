"""Attacks on a running deployment, offline: each tries to make an irreversible effect happen without a
trusted path, or to leave a run unaccounted for, and each must fail with the fake bank's ledger unchanged."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from baton.local.engine import LocalEngine
from baton.models import RunStatus, TaskStatus
from baton.runs import RunRecord
from baton.verification import verify_record
from tests.testapp.offline import INJECTED, Fakes


def bank(engine: LocalEngine) -> list[dict[str, Any]]:
    fakes: Fakes = engine.fixtures["relay"]
    return fakes.bank.payments


def verified(engine: LocalEngine, record: RunRecord) -> RunRecord:
    verification = verify_record(record.model_dump(mode="json"), engine.public_key(record.workflow))
    assert verification.ok, verification.problems
    return record


def payer_step(record: RunRecord) -> Any:
    return next(s for s in record.steps if s.agent == "payer")


def test_a_clean_payout_pays_once(engine: LocalEngine) -> None:
    # the control for the taint attacks below: the same workflow with trusted data all the way pays
    before = len(bank(engine))
    record = verified(engine, engine.run("payout", {"item_id": "IT-1"}, timeout_seconds=60))
    assert record.status is RunStatus.SUCCEEDED
    assert len(bank(engine)) == before + 1
    assert bank(engine)[-1]["account"] == "ACC-100"


@pytest.mark.parametrize(
    ("mode", "path"),
    [
        ("note_in_params", "the planner copies the caller's note into the payer's params (path b)"),
        ("read_then_pay", "the payer reads an external API's answer, then pays (path a)"),
        ("catch_then_pay", "the payer catches an external error carrying injected text, then pays (path c)"),
    ],
)
def test_untrusted_data_never_reaches_an_irreversible_tool(engine: LocalEngine, mode: str, path: str) -> None:
    # Given a payout whose path to the bank passes through untrusted data, as `path` says
    before = len(bank(engine))
    record = verified(
        engine,
        engine.run("payout", {"item_id": "IT-1", "mode": mode, "note": INJECTED}, timeout_seconds=60),
    )
    # Then the irreversible call is denied in the agent, the run fails with the reason, and nobody is paid
    step = payer_step(record)
    assert (step.status, step.error_type) == (TaskStatus.FAILED, "ToolDenied"), path
    assert record.status is RunStatus.FAILED
    assert len(bank(engine)) == before, f"paid despite {path}"
    denials = [r for r in record.audit if r["kind"] == "denial"]
    assert [d["detail"]["tool"] for d in denials] == ["pay_out"]


@pytest.mark.attack("ASI07")
def test_a_second_execution_started_for_a_finished_run_reruns_nothing(engine: LocalEngine) -> None:
    # Given a payout that paid once
    record = engine.run("payout", {"item_id": "IT-2"}, timeout_seconds=60)
    assert record.status is RunStatus.SUCCEEDED
    paid = len(bank(engine))
    # When someone with states:StartExecution replays it: a new execution naming the same run, stage 0
    sfn = engine.clients.client("stepfunctions")
    replay = sfn.start_execution(
        stateMachineArn=engine.state_machines["payout"],
        name=f"{record.run_id[:60]}-replay",
        input=json.dumps({"run_id": record.run_id, "stage": 0}),
    )["executionArn"]
    engine.wait_for_execution(replay)
    # Then the replay fails, nothing is paid a second time, and the run's own chain records the attempt
    assert sfn.describe_execution(executionArn=replay)["status"] == "FAILED"
    assert len(bank(engine)) == paid
    after = verified(engine, engine.wait(record.run_id))
    assert after.status is RunStatus.SUCCEEDED
    assert [r["detail"]["execution"] for r in after.audit if r["kind"] == "anomaly"] == [replay]


def test_an_execution_stopped_from_outside_is_reconciled(engine: LocalEngine) -> None:
    # Given a run whose execution is stopped by someone (an operator, a deployment) mid-run
    run_id = engine.start("relay", {"item_id": "IT-1"})
    while (meta := engine.store.find_meta(run_id)) is None or meta.stage < 1:  # mid-run, past its first Plan
        time.sleep(0.01)
    sfn = engine.clients.client("stepfunctions")
    sfn.stop_execution(executionArn=engine.execution_arn(run_id), error="Operator", cause="stopped by hand")
    # When the execution-status rule delivers the ABORTED event (the engine plays the rule: moto cannot)
    record = verified(engine, engine.wait(run_id, timeout_seconds=60))
    # Then the run is FAILED with the reason, never left RUNNING, and its chain is final
    assert record.status is RunStatus.FAILED
    # ABORTED on AWS; moto's interpreter sometimes reports a stop that lands mid-state as FAILED
    assert record.reason in {"execution ABORTED", "execution FAILED"}
