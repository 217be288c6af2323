"""Human approval, orchestrator side, on the in-memory store with crafted journal entries (no moto, no Cedar): how a
held call folds into a pending approval, how decisions are checked and recorded, how an approved call is
re-delegated with a single-use grant and that grant settled, and what the planner sees of a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from baton import clock
from baton.approvals import (
    EXPIRED_ERROR,
    REJECTED_ERROR,
    UNAVAILABLE_ERROR,
    ApprovalDesk,
    ApprovalRefused,
    ApprovalState,
    DecisionBody,
    Identity,
)
from baton.audit import public_key_check, verify_run
from baton.catalog import ApprovalSettings, CatalogError, build_catalog
from baton.clock import now_iso
from baton.models import (
    AwaitApproval,
    Delegate,
    Finish,
    JournalEntry,
    PendingCall,
    PlanRequest,
    RunStatus,
    RunView,
    Task,
    TaskStatus,
    ToolCallRecord,
    arguments_sha256,
)
from baton.orchestrator import NothingToAwait
from baton.runs import read_run
from baton.store import SCHEMA_VERSION
from tests.testapp import approvals as app
from tests.unit.harness import CALLER, FOUND, Harness, execution_of

APPROVER = Identity(app.APPROVER)
PAYOUT = {"account": "ACC-100", "amount_cents": 4200, "memo": "part 0"}


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    """Each test starts at the real time; a test that moves the clock leaves it as it found it."""
    clock.reset()
    yield
    clock.reset()


class Counting:
    """The approval app's planner, counting how often it is asked (and what it saw)."""

    def __init__(self, planner: Any) -> None:
        self.planner = planner
        self.asked = 0
        self.views: list[RunView] = []

    def decide(self, run: RunView) -> Any:
        self.asked += 1
        self.views.append(run)
        return self.planner.decide(run)


class FakeStepFunctions:
    def __init__(self) -> None:
        self.resumed: list[str] = []

    def send_task_success(self, taskToken: str, output: str) -> None:
        self.resumed.append(taskToken)


def harness(workflow: str = "approve", planner: Any = None) -> tuple[Harness, Counting]:
    counting = Counting(planner or app.ApprovePlanner())
    return Harness(counting, workflow, app.CATALOG), counting  # type: ignore[arg-type]


def held(h: Harness, run_id: str, stage: int, index: int, arguments: dict[str, Any] | None = None) -> PendingCall:
    """Record the cashier's report that a policy held its payout (what baton.agent_runner reports)."""
    arguments = arguments or PAYOUT
    pending = PendingCall(
        agent="cashier",
        tool="pay_out",
        arguments_sha256=arguments_sha256("pay_out", arguments),
        arguments=arguments,
        policy_ids=["every-payout-needs-approval"],
        reason="every payout needs a person's approval",
        expires_in_seconds=600,
    )
    call = ToolCallRecord(
        tool="pay_out",
        outcome="needs_approval",
        at=now_iso(),
        duration_ms=1.0,
        arguments=arguments,
        policy_effect="approval",
        policy_ids=pending.policy_ids,
    )
    entry = JournalEntry(
        stage=stage,
        index=index,
        attempt=1,
        agent="cashier",
        status=TaskStatus.NEEDS_APPROVAL,
        started_at=now_iso(),
        ended_at=now_iso(),
        tool_calls=[call],
        pending_approval=pending,
    )
    h.store.record_attempt(run_id, stage, index, 1, execution_of(run_id, h.workflow), entry.model_dump_json())
    return pending


def paid(h: Harness, run_id: str, stage: int, index: int, grant_id: str | None, amount: int = 4200) -> None:
    """Record the cashier's report of a payout that ran (with the grant it used, if any)."""
    call = ToolCallRecord(
        tool="pay_out",
        outcome="ok",
        at=now_iso(),
        duration_ms=1.0,
        arguments=PAYOUT | {"amount_cents": amount},
        policy_effect="approval",
        policy_ids=["every-payout-needs-approval"],
        grant_id=grant_id,
    )
    h.report(
        run_id, stage, index, {"payment_id": "pm_1a2b", "amount_cents": amount}, agent="cashier", tool_calls=[call]
    )


def waiting_run(split: int = 1) -> tuple[Harness, Counting, str]:
    """A run of `approve` whose cashier stage (stage 2) has been delegated."""
    h, planner = harness()
    run_id = h.start({"item_id": "IT-1", "split": split})
    h.plan(run_id, 0)
    h.report(run_id, 1, 0, FOUND)
    assert h.plan(run_id, 1).kind == "delegate"
    return h, planner, run_id


def decide(h: Harness, run_id: str, decision: str, approval_id: str, who: Identity = APPROVER, reason: str = "") -> Any:
    desk = ApprovalDesk(h.store, FakeStepFunctions())
    body = DecisionBody(approval_id=approval_id, decision=decision, reason=reason)  # type: ignore[arg-type]
    return desk.decide(h.catalog.workflow(h.workflow), run_id, body, who)


def verified(h: Harness, run_id: str) -> None:
    record = read_run(h.store, run_id).model_dump(mode="json")
    verification = verify_run(record, public_key_check(h.signer.public_key_pem()))
    assert verification.ok, verification.problems


# ---------------------------------------------------------------- held calls fold into pending approvals


def test_a_held_call_folds_into_a_pending_approval_and_the_run_waits_without_asking_the_planner() -> None:
    """Given a cashier task that reported its payout held by a policy
    When its stage is folded
    Then the run waits on one pending approval bound to the exact call; the planner is not asked, no step is
    recorded for the held task, and the audit records the request."""
    h, planner, run_id = waiting_run()
    asked = planner.asked
    pending = held(h, run_id, 2, 0)
    response = h.plan(run_id, 2)
    assert (response.kind, response.stage, len(response.approvals)) == ("await_approval", 2, 1)
    assert 1 <= response.wait_seconds <= 601
    assert planner.asked == asked
    meta = h.store.find_meta(run_id)
    assert meta is not None
    (approval,) = meta.approvals
    assert (approval.agent, approval.tool, approval.arguments_sha256) == (
        "cashier",
        "pay_out",
        pending.arguments_sha256,
    )
    assert (approval.state, approval.stage, approval.index, approval.held_by) == (ApprovalState.PENDING, 2, 0, "policy")
    assert approval.arguments == {}  # the run record keeps the binding; the approval item what approvers read
    item = h.store.load_approval(run_id, approval.approval_id)
    assert item is not None
    assert item.arguments == PAYOUT
    assert item.arguments_exact
    assert [s.key for s in h.store.load_history(run_id)] == ["reader"]
    requested = [r for r in h.audit(run_id) if r["kind"] == "approval_requested"]
    assert requested[0]["detail"]["arguments_sha256"] == pending.arguments_sha256
    assert requested[0]["detail"]["policy_ids"] == ["every-payout-needs-approval"]
    # a replayed Plan (Step Functions retried a lost answer) answers the same wait and commits nothing
    commits = h.store.commits
    assert h.plan(run_id, 2).approvals == response.approvals
    assert h.store.commits == commits


def test_in_a_concurrent_stage_other_tasks_fold_normally_and_several_approvals_wait_at_once() -> None:
    """Given a concurrent stage of three tasks: two cashiers held, and one that succeeded
    When the stage is folded
    Then the run waits on two approvals at once, and the third task's step and value are recorded now."""
    h, _planner, run_id = waiting_run(split=2)
    tasks = {i: h.task(run_id, 2, i) for i in range(3)}
    assert [t.agent for t in tasks.values()] == ["cashier", "cashier", "reader"]
    held(h, run_id, 2, 0, PAYOUT | {"amount_cents": 4201, "memo": "part 1"})
    held(h, run_id, 2, 1, PAYOUT | {"amount_cents": 4202, "memo": "part 2"})
    h.report(run_id, 2, 2, FOUND)
    response = h.plan(run_id, 2)
    assert response.kind == "await_approval"
    assert len(response.approvals) == 2
    assert [(s.key, s.status.value) for s in h.store.load_history(run_id)] == [
        ("reader", "succeeded"),
        ("recheck", "succeeded"),
    ]
    assert "recheck" in h.store.load_context(run_id)
    # When one is approved and the other rejected, the run goes on with the approved one alone
    first, second = response.approvals
    assert decide(h, run_id, "approve", first).resumed is False  # one is still pending: the wait goes on
    assert h.plan(run_id, 2).approvals == [second]  # the decision is recorded, the run waits for the other
    assert decide(h, run_id, "reject", second, reason="twice is too much").resumed is False  # (no token yet)
    redelegated = h.plan(run_id, 2)
    assert (redelegated.kind, redelegated.stage, redelegated.tasks, redelegated.max_attempts) == ("delegate", 3, [0], 1)
    assert h.task(run_id, 3, 0).key == "cash_1"
    history = {s.key: s for s in h.store.load_history(run_id)}
    assert (history["cash_2"].error_type, history["cash_2"].stage) == (REJECTED_ERROR, 2)
    assert "twice is too much" in (history["cash_2"].error or "")


def test_a_held_report_that_names_another_tool_or_no_call_fails_its_task() -> None:
    """Given a cashier reporting needs_approval for a tool outside its allowlist
    When its stage is folded
    Then no approval is asked for: the task fails as an invalid report."""
    h, _, run_id = waiting_run()
    entry = JournalEntry(
        stage=2,
        index=0,
        attempt=1,
        agent="cashier",
        status=TaskStatus.NEEDS_APPROVAL,
        started_at=now_iso(),
        ended_at=now_iso(),
        pending_approval=PendingCall(
            agent="cashier", tool="read_item", arguments_sha256="0" * 64, arguments={}, policy_ids=[]
        ),
    )
    h.store.record_attempt(run_id, 2, 0, 1, execution_of(run_id, "approve"), entry.model_dump_json())
    assert h.plan(run_id, 2).kind == "finish"
    step = next(s for s in h.store.load_history(run_id) if s.key == "cashier")
    assert (step.status, step.error_type) == (TaskStatus.FAILED, "AgentReportInvalid")
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert not meta.approvals


def test_a_held_call_in_a_workflow_without_approvers_fails_its_task() -> None:
    """Given a workflow that declares no approvers, whose cashier's payout a policy holds
    When the stage is folded
    Then the task fails with ApprovalUnavailable (nobody could approve it) and the planner decides."""
    h, _planner = harness("approve-none")
    run_id = h.start({"item_id": "IT-1"})
    h.plan(run_id, 0)
    h.report(run_id, 1, 0, FOUND)
    h.plan(run_id, 1)
    held(h, run_id, 2, 0)
    assert h.plan(run_id, 2).kind == "finish"
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert meta.result is not None
    refused = meta.result["refused"]
    assert isinstance(refused, dict)
    assert refused["cashier"]["error_type"] == UNAVAILABLE_ERROR
    verified(h, run_id)


# ---------------------------------------------------------------- approved: re-delegated with a single-use grant


def test_an_approved_call_is_redelegated_with_a_grant_that_its_fold_settles_consumed() -> None:
    """Given a pending approval of the cashier's payout
    When a declared approver approves it and the run resumes
    Then the same task is delegated again (one attempt) carrying a grant for exactly that call; when that stage
    is folded the grant is settled consumed; the audit shows the request, the approver and the consumed grant,
    and the chain verifies."""
    h, planner, run_id = waiting_run()
    pending = held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    decided = decide(h, run_id, "approve", approval_id, reason="checked the invoice")
    assert (decided.approval.state, decided.approval.approver) == (ApprovalState.APPROVED, app.APPROVER)
    asked = planner.asked
    response = h.plan(run_id, 2)
    assert (response.kind, response.stage, response.max_attempts) == ("delegate", 3, 1)
    assert planner.asked == asked  # the approved action runs; the planner is asked once it has
    original, again = h.task(run_id, 2, 0), h.task(run_id, 3, 0)
    assert again.payload == original.payload
    assert again.key == original.key
    (grant,) = again.grants
    assert (grant.grant_id, grant.agent, grant.tool, grant.arguments_sha256) == (
        approval_id,
        "cashier",
        "pay_out",
        pending.arguments_sha256,
    )
    paid(h, run_id, 3, 0, grant_id=approval_id)
    assert h.plan(run_id, 3).kind == "finish"
    item = h.store.load_approval(run_id, approval_id)
    assert item is not None
    assert item.state is ApprovalState.CONSUMED
    records = h.audit(run_id)
    kinds = [r["kind"] for r in records]
    assert kinds.index("approval_requested") < kinds.index("approval_decided") < kinds.index("grant_settled")
    decided_record = next(r for r in records if r["kind"] == "approval_decided")
    assert (decided_record["actor"], decided_record["detail"]["approver"]) == (app.APPROVER, app.APPROVER)
    settled = next(r for r in records if r["kind"] == "grant_settled")
    assert (settled["detail"]["grant_id"], settled["detail"]["state"]) == (approval_id, "consumed")
    call = next(r for r in records if r["kind"] == "tool_call" and r["detail"].get("grant_id"))
    assert call["detail"]["policy_effect"] == "approval"
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert meta.status is RunStatus.SUCCEEDED
    verified(h, run_id)


def test_a_grant_is_single_use_a_second_decision_or_a_grant_never_given_changes_nothing() -> None:
    """Given an approved, re-delegated and consumed approval
    When the same approval is decided again, or a later report names a grant its task was never given
    Then the decision is refused (409) and the foreign grant is an audited anomaly that consumes nothing."""
    h, _, run_id = waiting_run()
    held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    decide(h, run_id, "approve", approval_id)
    h.plan(run_id, 2)
    with pytest.raises(ApprovalRefused) as replay:
        decide(h, run_id, "approve", approval_id)
    assert replay.value.status == 409
    # the re-delegated task reports a call naming another grant: an anomaly, and its own grant is void
    paid(h, run_id, 3, 0, grant_id="ap-00000000000000000000")
    h.plan(run_id, 3)
    anomalies = [r["detail"]["what"] for r in h.audit(run_id) if r["kind"] == "anomaly"]
    assert "a tool call named an approval grant its task was not given" in anomalies
    item = h.store.load_approval(run_id, approval_id)
    assert item is not None
    assert item.state is ApprovalState.VOID


def test_an_approval_for_some_arguments_does_not_let_a_call_with_other_arguments_run() -> None:
    """Given an approval of a payout of 4200
    When the re-delegated task proposes a payout of 9999 instead (a model agent changing its mind)
    Then that call is held again, as a new approval bound to its own hash; the first grant is settled void."""
    h, _, run_id = waiting_run()
    first = held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    decide(h, run_id, "approve", approval_id)
    h.plan(run_id, 2)
    second = held(h, run_id, 3, 0, PAYOUT | {"amount_cents": 9999})
    response = h.plan(run_id, 3)
    assert response.kind == "await_approval"
    (new_id,) = response.approvals
    assert new_id != approval_id
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert [a.arguments_sha256 for a in meta.approvals] == [second.arguments_sha256]
    assert second.arguments_sha256 != first.arguments_sha256
    old = h.store.load_approval(run_id, approval_id)
    assert old is not None
    assert old.state is ApprovalState.VOID
    settled = [r["detail"]["state"] for r in h.audit(run_id) if r["kind"] == "grant_settled"]
    assert settled == ["void"]


# ---------------------------------------------------------------- refused: what the planner sees


def test_a_rejection_reaches_the_planner_as_the_tasks_outcome_with_the_reason() -> None:
    """Given a pending approval
    When the approver rejects it with a reason
    Then the planner sees the cashier's outcome failed with ApprovalRejected and the reason, and nothing runs."""
    h, planner, run_id = waiting_run()
    held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    decide(h, run_id, "reject", approval_id, reason="the account looks wrong")
    assert h.plan(run_id, 2).kind == "finish"
    outcome = planner.views[-1].latest("cashier")
    assert outcome is not None
    assert (outcome.status, outcome.error_type) == (TaskStatus.FAILED, REJECTED_ERROR)
    assert "the account looks wrong" in (outcome.error or "")
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert meta.result is not None
    assert meta.result["paid"] == {}
    decided = next(r for r in h.audit(run_id) if r["kind"] == "approval_decided")
    assert decided["detail"]["decision"] == "rejected"
    verified(h, run_id)


def test_an_approval_nobody_decides_expires_and_the_planner_sees_it() -> None:
    """Given a pending approval that may take 600 s
    When the clock passes its deadline and the wait times out
    Then the orchestrator records the expiry, the API refuses a late decision (409), and the planner sees
    ApprovalExpired."""
    h, planner, run_id = waiting_run()
    held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    clock.advance(601)
    with pytest.raises(ApprovalRefused) as late:
        decide(h, run_id, "approve", approval_id)
    assert (late.value.status, "expired" in str(late.value)) == (409, True)
    assert h.plan(run_id, 2).kind == "finish"
    outcome = planner.views[-1].latest("cashier")
    assert outcome is not None
    assert outcome.error_type == EXPIRED_ERROR
    item = h.store.load_approval(run_id, approval_id)
    assert item is not None
    assert item.state is ApprovalState.EXPIRED
    assert "approval_expired" in h.kinds(run_id)
    verified(h, run_id)


def test_a_decision_written_behind_the_apis_back_by_someone_not_allowed_is_refused_by_the_orchestrator() -> None:
    """Given a decision recorded on the approval item by the run's own starter (a compromised API, say)
    When the run resumes
    Then the orchestrator checks the decision again, refuses it (an audited anomaly) and the action does not run."""
    h, planner, run_id = waiting_run()
    held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    item = h.store.load_approval(run_id, approval_id)
    assert item is not None
    forged = item.model_copy(
        update={"state": ApprovalState.APPROVED, "approver": CALLER, "decided_at": now_iso(), "decided_epoch": 1}
    )
    h.store.approvals[run_id][approval_id] = forged
    assert h.plan(run_id, 2).kind == "finish"
    outcome = planner.views[-1].latest("cashier")
    assert outcome is not None
    assert outcome.error_type == REJECTED_ERROR
    assert any(r["kind"] == "anomaly" and "refused" in r["detail"]["what"] for r in h.audit(run_id))


# ---------------------------------------------------------------- who may decide


def test_only_a_declared_approver_who_did_not_start_the_run_may_decide() -> None:
    """Given a run started by a session of the approver role itself, with a source identity
    When another session of that role, or another approver role carrying the same source identity, decides
    Then both are refused (403): the role and the source identity are compared, never the session ARN."""
    h, _ = harness()
    role_session = "arn:aws:sts::123456789012:assumed-role/payout-approver/alice-1"
    from baton.api import principal_of

    run_id = h.starter.start("approve", {"item_id": "IT-1"}, principal_of(role_session), source_identity="alice").run_id
    h.plan(run_id, 0)
    h.report(run_id, 1, 0, FOUND)
    h.plan(run_id, 1)
    held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    for who in (
        Identity(principal_of("arn:aws:sts::123456789012:assumed-role/payout-approver/alice-2")),
        Identity(app.OTHER_APPROVER, "alice"),
        Identity("arn:aws:iam::123456789012:role/someone-else"),
    ):
        with pytest.raises(ApprovalRefused) as refused:
            decide(h, run_id, "approve", approval_id, who=who)
        assert refused.value.status == 403
    assert decide(h, run_id, "approve", approval_id, who=Identity(app.OTHER_APPROVER, "bob")).approval.approver


# ---------------------------------------------------------------- the wait's task token


def test_the_wait_stores_its_token_notifies_once_and_goes_on_at_once_when_nothing_is_pending() -> None:
    """Given a run waiting on an approval
    When the wait state begins (the orchestrator invoked with its task token), twice
    Then the token is stored for the API, approvers are notified once; and when the approval was decided before
    the token was stored, the wait ends at once (NothingToAwait) and the API's resume is not needed."""
    sent: list[list[str]] = []

    class Notifier:
        def notify(self, approvals: list[Any]) -> list[str]:
            sent.append([a.approval_id for a in approvals])
            return [a.approval_id for a in approvals]

    h, _, run_id = waiting_run()
    h.orchestrator._notifier = Notifier()  # type: ignore[assignment]
    held(h, run_id, 2, 0)
    approval_id = h.plan(run_id, 2).approvals[0]
    request = PlanRequest(run_id=run_id, stage=2, execution=execution_of(run_id, "approve"), task_token="token-1")
    h.orchestrator.handle(request)
    h.orchestrator.handle(request.model_copy(update={"task_token": "token-2"}))
    token = h.store.load_task_token(run_id)
    assert token is not None
    assert (token.token, token.stage) == ("token-2", 2)
    assert sent == [[approval_id]]
    sfn = FakeStepFunctions()
    desk = ApprovalDesk(h.store, sfn)
    body = DecisionBody(approval_id=approval_id, decision="approve")
    assert desk.decide(h.catalog.workflow("approve"), run_id, body, APPROVER).resumed
    assert sfn.resumed == ["token-2"]
    with pytest.raises(NothingToAwait):
        h.orchestrator.handle(request.model_copy(update={"task_token": "token-3"}))


# ---------------------------------------------------------------- a planner's AwaitApproval


def test_a_planner_may_await_approval_of_an_exact_call_before_it_delegates() -> None:
    """Given the approve-planned planner, which asks for approval of the cashier's exact payout
    When it is approved
    Then the cashier is delegated with a grant for that call (its own policy hold is then satisfied)."""
    h, _planner = harness("approve-planned", app.PlannedApprovalPlanner())
    run_id = h.start({"item_id": "IT-1"})
    h.plan(run_id, 0)
    h.report(run_id, 1, 0, FOUND)
    response = h.plan(run_id, 1)
    assert (response.kind, response.stage) == ("await_approval", 2)
    meta = h.store.find_meta(run_id)
    assert meta is not None
    (approval,) = meta.approvals
    assert (approval.held_by, approval.tool, approval.arguments_sha256) == (
        "planner",
        "pay_out",
        arguments_sha256("pay_out", PAYOUT),
    )
    decide(h, run_id, "approve", approval.approval_id)
    redelegated = h.plan(run_id, 2)
    assert (redelegated.kind, redelegated.stage) == ("delegate", 3)
    assert [g.arguments_sha256 for g in h.task(run_id, 3, 0).grants] == [approval.arguments_sha256]
    paid(h, run_id, 3, 0, grant_id=approval.approval_id)
    assert h.plan(run_id, 3).kind == "finish"
    verified(h, run_id)


@pytest.mark.parametrize(
    ("workflow", "decision", "denied"),
    [
        ("approve-none", AwaitApproval(task=Task(agent="cashier")), "declares no approvers"),
        ("approve", AwaitApproval(task=Task(agent="cashier"), tool="read_item"), "not one of its agent's tools"),
        ("approve", AwaitApproval(task=Task(agent="cashier"), tool="pay_out", arguments={"x": 1}), "model"),
        ("approve", AwaitApproval(task=Task(agent="ghost")), "outside workflow"),
    ],
)
def test_a_planners_await_approval_is_guarded_like_a_delegation(workflow: str, decision: Any, denied: str) -> None:
    """Given a planner awaiting approval where nobody may approve, of another agent's tool, with arguments the tool
    refuses, or of an agent outside the workflow
    When the stage is planned
    Then the decision is denied (audited) and the run fails with the reason."""

    class Once:
        def decide(self, run: RunView) -> Any:
            return decision

    h, _ = harness(workflow, Once())
    run_id = h.start({"item_id": "IT-1"})
    response = h.plan(run_id, 0)
    assert response.kind == "fail"
    assert denied in response.reason
    assert "denial" in h.kinds(run_id)


# ---------------------------------------------------------------- prior calls, and runs stored before approvals


def test_an_agent_under_policies_receives_the_runs_earlier_state_changing_calls() -> None:
    """Given a run whose cashier paid once (stage 3)
    When the cashier is delegated again
    Then its task input lists that payout as a prior call, with its arguments, for its policies to count."""

    class Twice:
        def decide(self, run: RunView) -> Any:
            if run.latest("reader") is None:
                return Delegate(tasks=[Task(agent="reader")])
            if run.latest("cashier") is None:
                return Delegate(tasks=[Task(agent="cashier")])
            if run.latest("again") is None:
                return Delegate(tasks=[Task(agent="cashier", key="again")])
            return Finish(result={})

    h, _ = harness("approve", Twice())
    run_id = h.start({"item_id": "IT-1"})
    h.plan(run_id, 0)
    assert h.task(run_id, 1, 0).prior_calls == []  # the reader is under no policy
    h.report(run_id, 1, 0, FOUND)
    h.plan(run_id, 1)
    assert h.task(run_id, 2, 0).prior_calls == []
    paid(h, run_id, 2, 0, grant_id=None)
    before = len(h.store.reads)
    h.plan(run_id, 2)
    (prior,) = h.task(run_id, 3, 0).prior_calls
    assert (prior.agent, prior.tool, prior.stage, prior.arguments) == ("cashier", "pay_out", 2, PAYOUT)
    # one read of the tool's ledger (to extend it with the stage's payout), whatever the length of the run
    assert [r for r in h.store.reads[before:] if r.startswith("CALLS#")] == ["CALLS#pay_out"]
    assert h.store.calls[run_id]["pay_out"] == [prior]


def test_a_run_started_before_schema_version_4_still_finishes_its_prior_calls_read_from_its_journal() -> None:
    """Given a run stored at schema version 3 (no approvals, no CALLS# ledgers), mid-way
    When the new orchestrator plans the rest
    Then the cashier's prior calls come from the run's journal, and the run finishes at its own version."""
    assert SCHEMA_VERSION >= 4  # (5: hierarchical runs add fields a version 3 or 4 run lacks)

    class Twice:
        def decide(self, run: RunView) -> Any:
            for key in ("reader", "cashier", "again"):
                if run.latest(key) is None:
                    return Delegate(tasks=[Task(agent="reader" if key == "reader" else "cashier", key=key)])
            return Finish(result={})

    h, _ = harness("approve", Twice())
    run_id = h.start({"item_id": "IT-1"})
    h.plan(run_id, 0)
    meta = h.store.find_meta(run_id)
    assert meta is not None
    stored = meta.model_dump(mode="json")
    for new in ("approvals", "caller_source_identity"):
        stored.pop(new)
    h.store.metas[run_id] = type(meta).model_validate(stored | {"schema_version": 3})
    h.report(run_id, 1, 0, FOUND)
    h.plan(run_id, 1)
    paid(h, run_id, 2, 0, grant_id=None)
    h.plan(run_id, 2)
    assert [c.tool for c in h.task(run_id, 3, 0).prior_calls] == ["pay_out"]
    assert "JOURNAL#*" in h.store.reads
    assert h.store.calls.get(run_id, {}) == {}
    paid(h, run_id, 3, 0, grant_id=None)
    assert h.plan(run_id, 3).kind == "finish"
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert (meta.status, meta.schema_version) == (RunStatus.SUCCEEDED, 3)


# ---------------------------------------------------------------- the catalog


def test_approvals_on_an_express_workflow_are_refused_when_the_catalog_loads() -> None:
    """Given a workflow on Express execution that declares approvals
    When the catalog is built
    Then it is refused, naming the workflow and why (an Express execution cannot wait for a task token)."""
    express = app.APPROVE.model_copy(update={"name": "approve-fast", "execution": "express", "offline_fixture": None})
    with pytest.raises(CatalogError, match="'approve-fast' declares approvals but runs on Express"):
        build_catalog(resources=app.RESOURCES, tools=app.TOOLS, agents=[app.READER, app.CASHIER], workflows=[express])


def test_approvals_notify_only_a_declared_queue_or_topic() -> None:
    """Given approvals notifying an undeclared resource / When the catalog is built / Then it is refused."""
    from baton.catalog import ResourceKind, ResourceRef

    settings = ApprovalSettings(
        approver_roles=(app.APPROVER,), notify=ResourceRef(kind=ResourceKind.QUEUE, name="nowhere")
    )
    broken = app.APPROVE.model_copy(update={"approvals": settings})
    with pytest.raises(CatalogError, match="undeclared resource 'nowhere'"):
        build_catalog(resources=app.RESOURCES, tools=app.TOOLS, agents=[app.READER, app.CASHIER], workflows=[broken])
