"""Human approval end to end, offline: moto's Step Functions waits on the `.waitForTaskToken` state, the API's own
path takes decisions, the orchestrator records them; the fake bank's ledger shows what really ran.

The approval test app (tests.testapp.approvals): a cashier whose every payout a Cedar policy holds for a person."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from baton import clock
from baton.approvals import EXPIRED_ERROR, REJECTED_ERROR, UNAVAILABLE_ERROR, Approval
from baton.audit import public_key_check, verify_run
from baton.iam import Component, all_roles, iam_actions_of_call
from baton.local.engine import LOCAL_CALLER, LocalEngine
from baton.local.functions import API_FUNCTION, agent_function_name, orchestrator_function_name
from baton.models import RunStatus
from baton.runs import RunRecord
from tests.testapp import approvals as app

IT_1 = {"account": "ACC-100", "amount_cents": 4200, "memo": "part 0"}


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.testapp.approvals:CATALOG") as local:
        yield local


@pytest.fixture(autouse=True)
def _fresh(engine: LocalEngine) -> Iterator[None]:
    clock.reset()
    app.DRIFT.clear()
    yield
    clock.reset()
    app.DRIFT.clear()


def bank(engine: LocalEngine) -> list[dict[str, Any]]:
    payments: list[dict[str, Any]] = engine.fixtures["approve"].bank.payments
    return payments


def pending(engine: LocalEngine, run_id: str, count: int = 1, timeout: float = 20) -> list[Approval]:
    """Wait until the run waits for `count` approvals (and its wait state has stored its token)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = engine.pending_approvals(run_id)
        if len(waiting) >= count and engine.store.load_task_token(run_id) is not None:
            return waiting
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never waited for {count} approvals")


def verified(engine: LocalEngine, record: RunRecord) -> None:
    check = public_key_check(engine.public_key(record.workflow))
    verification = verify_run(record.model_dump(mode="json"), check)
    assert verification.ok, verification.problems


@pytest.mark.attack("ASI09")
def test_an_approved_payout_runs_once_and_the_audit_shows_request_approver_and_consumed_grant(
    engine: LocalEngine,
) -> None:
    """Given a run whose cashier's payout a policy holds
    When the declared approver approves it through the API
    Then the run resumes, the payout runs exactly once with the approved arguments, and the audit shows the
    request, the approver and the consumed grant; the approvers were told through the declared queue (without the
    task token), and the chain verifies."""
    before = len(bank(engine))
    run_id = engine.start("approve", {"item_id": "IT-1"})
    (approval,) = pending(engine, run_id)
    assert (approval.tool, approval.arguments, approval.policy_ids) == (
        "pay_out",
        IT_1,
        ["every-payout-needs-approval"],
    )
    status, body = engine.decide(run_id, "approve", "checked", approval_id=approval.approval_id)
    assert (status, body["state"], body["approver"], body["resumed"]) == (200, "approved", app.APPROVER, True)
    record = engine.wait(run_id, timeout_seconds=30)
    assert record.status is RunStatus.SUCCEEDED
    assert [p | {"payment_id": ""} for p in bank(engine)[before:]] == [IT_1 | {"payment_id": ""}]
    detail = {r["kind"]: r for r in record.audit}
    assert detail["approval_requested"]["detail"]["approval_id"] == approval.approval_id
    assert detail["approval_decided"]["detail"]["approver"] == app.APPROVER
    assert detail["grant_settled"]["detail"]["state"] == "consumed"
    verified(engine, record)
    sqs = engine.clients.client("sqs")
    messages = sqs.receive_message(QueueUrl=engine.physical_ids["approval_requests"], MaxNumberOfMessages=10)
    told = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    mine = [m for m in told if m["run_id"] == run_id]
    assert [m["approval_id"] for m in mine] == [approval.approval_id]
    token = engine.store.load_task_token(run_id)
    assert token is not None
    assert token.token not in json.dumps(told)


def test_a_rejected_payout_never_runs_and_the_planner_sees_the_reason(engine: LocalEngine) -> None:
    """Given a held payout / When the approver rejects it with a reason
    Then nothing is paid and the planner's result carries the cashier's ApprovalRejected outcome and the reason."""
    before = len(bank(engine))
    run_id = engine.start("approve", {"item_id": "IT-2"})
    pending(engine, run_id)
    assert engine.decide(run_id, "reject", "that account is closed")[0] == 200
    record = engine.wait(run_id, timeout_seconds=30)
    assert record.status is RunStatus.SUCCEEDED
    assert record.result is not None
    refused = record.result["refused"]
    assert isinstance(refused, dict)
    assert refused["cashier"]["error_type"] == REJECTED_ERROR  # type: ignore[index]
    assert "that account is closed" in refused["cashier"]["error"]  # type: ignore[index]
    assert len(bank(engine)) == before
    verified(engine, record)


@pytest.mark.attack("ASI09")
def test_an_approval_nobody_decides_expires_when_the_clock_passes_its_deadline(engine: LocalEngine) -> None:
    """Given a held payout that may wait 600 s
    When the clock moves past its deadline (no sleeping) and nobody decided
    Then the wait ends, the expiry is recorded, the planner sees ApprovalExpired and nothing is paid."""
    before = len(bank(engine))
    run_id = engine.start("approve", {"item_id": "IT-1"})
    pending(engine, run_id)
    engine.advance_clock(601, run_id)
    record = engine.wait(run_id, timeout_seconds=30)
    assert record.result is not None
    assert record.result["refused"]["cashier"]["error_type"] == EXPIRED_ERROR  # type: ignore[index,call-overload]
    assert "approval_expired" in [r["kind"] for r in record.audit]
    assert engine.decide(run_id, "approve")[0] == 409
    assert len(bank(engine)) == before


def test_the_wait_states_own_timeout_goes_back_to_the_orchestrator_which_records_the_expiry(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a wait state whose timeout is the approval's deadline (here a second away: the clock is moved by 600 s)
    When Step Functions' own TimeoutSecondsPath fires (States.Timeout)
    Then its Catch goes back to Plan and the orchestrator records the expiry: the run is not left waiting."""
    import baton.orchestrator

    monkeypatch.setattr(baton.orchestrator, "wait_seconds", lambda approvals, now: 1)
    run_id = engine.start("approve", {"item_id": "IT-1"})
    pending(engine, run_id)
    clock.advance(601)
    record = engine.wait(run_id, timeout_seconds=30)
    assert record.result is not None
    assert record.result["refused"]["cashier"]["error_type"] == EXPIRED_ERROR  # type: ignore[index,call-overload]
    events = engine.clients.client("stepfunctions").get_execution_history(
        executionArn=engine.execution_arn(run_id), maxResults=1000
    )["events"]
    assert any(e["type"] == "TaskTimedOut" for e in events)


@pytest.mark.attack("ASI09")
def test_a_replayed_decision_is_refused_and_nothing_runs_again(engine: LocalEngine) -> None:
    """Given an approved and completed payout
    When the same decision is posted again
    Then it is refused with 409 and the bank's ledger does not change."""
    run_id = engine.start("approve", {"item_id": "IT-1"})
    (approval,) = pending(engine, run_id)
    assert engine.decide(run_id, "approve", approval_id=approval.approval_id)[0] == 200
    engine.wait(run_id, timeout_seconds=30)
    paid = len(bank(engine))
    status, body = engine.decide(run_id, "approve", approval_id=approval.approval_id)
    assert status == 409
    assert "run" in body["error"] or "already" in body["error"]
    assert len(bank(engine)) == paid


@pytest.mark.attack("ASI09")
def test_an_approval_for_one_call_does_not_let_a_call_with_other_arguments_run(engine: LocalEngine) -> None:
    """Given an approved payout of 4200, whose re-delegated cashier then proposes 4700 instead (as a model agent
    changing its arguments would)
    When the run resumes
    Then the 4700 call is held again, as a new approval: nothing is paid until that one is approved, and the first
    grant is settled void."""
    before = len(bank(engine))
    app.DRIFT.extend([0, 500, 500])  # the first attempt proposes the price, the re-delegated ones 500 more
    run_id = engine.start("approve", {"item_id": "IT-1"})
    (first,) = pending(engine, run_id)
    assert first.arguments["amount_cents"] == 4200
    engine.decide(run_id, "approve", approval_id=first.approval_id)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        held = [a for a in engine.pending_approvals(run_id) if a.approval_id != first.approval_id]
        if held and engine.store.load_task_token(run_id) is not None:
            break
        time.sleep(0.02)
    (second,) = held
    assert second.arguments["amount_cents"] == 4700
    assert second.arguments_sha256 != first.arguments_sha256
    assert len(bank(engine)) == before  # the grant for 4200 let nothing else run
    engine.decide(run_id, "approve", approval_id=second.approval_id)
    record = engine.wait(run_id, timeout_seconds=30)
    assert [p["amount_cents"] for p in bank(engine)[before:]] == [4700]
    settled = [(r["detail"]["grant_id"], r["detail"]["state"]) for r in record.audit if r["kind"] == "grant_settled"]
    assert settled == [(first.approval_id, "void"), (second.approval_id, "consumed")]


@pytest.mark.attack("ASI09")
def test_the_starter_cannot_approve_its_own_run_from_another_session_of_its_role(engine: LocalEngine) -> None:
    """Given a run started by a session of an approver role
    When another session of that same role approves it, or another approver role with the same source identity
    Then both are refused (403); a different approver's decision is accepted."""
    from tests.local.test_api_approvals import post_decision, start_as

    run_id = start_as(engine, "arn:aws:sts::123456789012:assumed-role/payout-approver/alice-1", "alice")
    pending(engine, run_id)
    same_role = "arn:aws:sts::123456789012:assumed-role/payout-approver/alice-2"
    assert post_decision(engine, run_id, same_role, {"decision": "approve"}, by_hash=True)[0] == 403
    other_role = "arn:aws:sts::123456789012:assumed-role/payout-approver-2/alice-3"
    assert post_decision(engine, run_id, other_role, {"decision": "approve"}, source="alice", by_hash=True)[0] == 403
    assert post_decision(engine, run_id, other_role, {"decision": "reject"}, source="bob", by_hash=True)[0] == 200
    assert engine.wait(run_id, timeout_seconds=30).status is RunStatus.SUCCEEDED


def test_several_approvals_wait_at_once_in_a_concurrent_stage_whose_other_task_folds(engine: LocalEngine) -> None:
    """Given a concurrent stage of three payouts (each held) and a task no policy holds
    When two payouts are approved and one rejected
    Then the run waited for the three at once, the unheld task's value was recorded meanwhile, exactly the two
    approved payouts ran, and the planner saw the rejected one's reason."""
    before = len(bank(engine))
    run_id = engine.start("approve", {"item_id": "IT-1", "split": 3})
    held = pending(engine, run_id, 3)
    assert sorted(a.arguments["amount_cents"] for a in held) == [4201, 4202, 4203]  # type: ignore[type-var]
    assert "recheck" in engine.store.load_context(run_id)  # folded while the payouts wait
    by_amount = {a.arguments["amount_cents"]: a for a in held}
    assert engine.decide(run_id, "approve", approval_id=by_amount[4201].approval_id)[1]["resumed"] is False
    assert engine.decide(run_id, "reject", "not this one", approval_id=by_amount[4202].approval_id)[0] == 200
    assert engine.decide(run_id, "approve", approval_id=by_amount[4203].approval_id)[1]["resumed"] is True
    record = engine.wait(run_id, timeout_seconds=30)
    assert sorted(p["amount_cents"] for p in bank(engine)[before:]) == [4201, 4203]
    assert record.result is not None
    assert set(record.result["paid"]) == {"cash_1", "cash_3"}  # type: ignore[arg-type]
    assert record.result["refused"]["cash_2"]["error_type"] == REJECTED_ERROR  # type: ignore[index,call-overload]
    verified(engine, record)


def test_a_planner_awaiting_approval_of_an_exact_call_lets_only_that_call_run(engine: LocalEngine) -> None:
    """Given the approve-planned planner, which asks for the cashier's exact payout to be approved before it
    delegates
    When the approver approves
    Then the cashier runs carrying the grant, which its own policy hold accepts: one payout, no second approval."""
    before = len(bank(engine))
    run_id = engine.start("approve-planned", {"item_id": "IT-1"})
    (approval,) = pending(engine, run_id)
    assert (approval.held_by, approval.arguments) == ("planner", IT_1)
    engine.decide(run_id, "approve")
    record = engine.wait(run_id, timeout_seconds=30)
    assert len(bank(engine)) == before + 1
    assert [r["detail"]["state"] for r in record.audit if r["kind"] == "grant_settled"] == ["consumed"]


def test_a_held_call_in_a_workflow_without_approvers_fails_its_task(engine: LocalEngine) -> None:
    """Given a workflow that declares no approvers / When a policy holds the cashier's payout
    Then the task fails with ApprovalUnavailable at once: the run neither waits nor pays."""
    before = len(bank(engine))
    record = engine.run("approve-none", {"item_id": "IT-1"}, timeout_seconds=30)
    assert record.result is not None
    assert record.result["refused"]["cashier"]["error_type"] == UNAVAILABLE_ERROR  # type: ignore[index,call-overload]
    assert len(bank(engine)) == before


def test_every_aws_call_of_an_approval_is_an_action_the_derived_roles_allow(engine: LocalEngine) -> None:
    """Given the calls recorded while runs waited, were decided and resumed (the tests above, and one more here)
    Then each function's calls are allowed by its derived role: the orchestrator's SendMessage to the declared
    queue and its APPROVAL# writes, the API's conditional PutItem and SendTaskSuccess."""
    run_id = engine.start("approve", {"item_id": "IT-1"})
    pending(engine, run_id)
    engine.decide(run_id, "approve")
    engine.wait(run_id, timeout_seconds=30)
    roles = {(r.component, r.name): {a for s in r.statements for a in s.actions} for r in all_roles(engine.catalog)}
    functions = {agent_function_name(a): (Component.AGENT, a) for a in engine.catalog.agents}
    functions |= {orchestrator_function_name(w): (Component.ORCHESTRATOR, w) for w in engine.catalog.workflows}
    functions[API_FUNCTION] = (Component.API, "api")
    made_by: dict[str, set[str]] = {}
    for call in engine.aws_calls:
        if call.function in functions:
            made_by.setdefault(call.function, set()).update(iam_actions_of_call(call.service, call.operation))
    for function, made in made_by.items():
        allowed = roles[functions[function]]
        assert made <= allowed, f"{function} made calls its role does not allow: {made - allowed}"
    assert "states:SendTaskSuccess" in made_by[API_FUNCTION]
    assert "sqs:SendMessage" in made_by[orchestrator_function_name("approve")]
    assert LOCAL_CALLER not in app.APPROVALS.approver_roles  # offline, the starter is never an approver
