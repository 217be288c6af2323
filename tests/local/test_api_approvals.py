"""POST /runs/{run_id}/approvals, in-process on the offline deployment: what a caller gets for good and bad
decisions, and who may take them (a declared approver role, never the run's starter: by role and source identity)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from baton.api import handle_request
from baton.local.engine import LocalEngine
from tests.testapp import approvals as app

STARTER = "arn:aws:sts::123456789012:assumed-role/shop-app/session-1"
APPROVER_SESSION = "arn:aws:sts::123456789012:assumed-role/payout-approver/carol"
STRANGER = "arn:aws:iam::123456789012:user/mallory"


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.testapp.approvals:CATALOG") as local:
        yield local


def call(engine: LocalEngine, caller: str, source: str | None = None, **event: Any) -> tuple[int, Any]:
    identity: dict[str, Any] = {"userArn": caller}
    if source is not None:
        identity["sourceIdentity"] = source
    request = {"requestContext": {"requestId": "r-1", "identity": identity}, **event}
    response = handle_request(request, engine.catalog.workflows, engine.starter, engine.store, engine.desk)
    return response["statusCode"], json.loads(response["body"])


def start_as(engine: LocalEngine, caller: str, source: str | None = None, item: str = "IT-1") -> str:
    status, body = call(
        engine,
        caller,
        source,
        httpMethod="POST",
        resource="/workflows/{name}/runs",
        pathParameters={"name": "approve"},
        body=json.dumps({"input": {"item_id": item}}),
    )
    assert status == 202, body
    return str(body["run_id"])


def held(engine: LocalEngine, run_id: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = engine.pending_approvals(run_id)
        if waiting and engine.store.load_task_token(run_id) is not None:
            return waiting[0]
        time.sleep(0.02)
    raise AssertionError("the run never waited")


def post_decision(
    engine: LocalEngine,
    run_id: str,
    caller: str,
    body: Any,
    source: str | None = None,
    *,
    by_hash: bool = False,
) -> tuple[int, Any]:
    if by_hash and isinstance(body, dict):
        body = body | {"arguments_sha256": held(engine, run_id).arguments_sha256}
    return call(
        engine,
        caller,
        source,
        httpMethod="POST",
        resource="/runs/{run_id}/approvals",
        pathParameters={"run_id": run_id},
        body=body if isinstance(body, str) else json.dumps(body),
    )


@pytest.fixture(scope="module")
def waiting(engine: LocalEngine) -> str:
    """One run that waits for its payout's approval (the tests below refuse every decision they try)."""
    run_id = start_as(engine, STARTER)
    held(engine, run_id)
    return run_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "body"),
        ({"decision": "approve"}, "approval_id"),
        ({"decision": "maybe", "arguments_sha256": "0" * 64}, "decision"),
        ({"decision": "approve", "approval_id": "ap-1"}, "approval_id"),
        ({"decision": "approve", "arguments_sha256": "0" * 64, "note": "hi"}, "note"),
        ({"decision": "approve", "arguments_sha256": "0" * 64, "reason": "x" * 1001}, "reason"),
        ({"decision": "approve", "approval_id": "ap-" + "0" * 20, "arguments_sha256": "0" * 64}, "approval_id"),
    ],
)
def test_a_bad_decision_body_is_a_400_naming_the_field(
    engine: LocalEngine, waiting: str, body: Any, field: str
) -> None:
    """Given a run waiting for approval / When a declared approver posts a malformed decision
    Then 400, naming the field at fault (extra fields are refused, never ignored)."""
    status, answer = post_decision(engine, waiting, APPROVER_SESSION, body)
    assert (status, answer.get("field")) == (400, field), answer


@pytest.mark.attack("ASI09")
@pytest.mark.parametrize(
    ("caller", "source"),
    [
        (STRANGER, None),  # not a declared approver role
        ("arn:aws:sts::123456789012:assumed-role/shop-app/session-2", None),  # the starter's role, another session
    ],
)
def test_a_caller_who_is_no_approver_or_is_the_starter_gets_403(
    engine: LocalEngine, waiting: str, caller: str, source: str | None
) -> None:
    """Given a waiting run / When someone outside the approver roles (the starter included) decides
    Then 403, and the approval is still pending."""
    status, answer = post_decision(engine, waiting, caller, {"decision": "approve"}, source, by_hash=True)
    assert status == 403, answer
    assert engine.pending_approvals(waiting)


@pytest.mark.attack("ASI09")
def test_the_same_person_through_another_role_is_refused_by_source_identity(engine: LocalEngine) -> None:
    """Given a run started by alice (source identity) through the shop's role
    When alice approves through an approver role
    Then 403: the source identity survives the change of role."""
    run_id = start_as(engine, STARTER, "alice", item="IT-2")
    status, _ = post_decision(engine, run_id, APPROVER_SESSION, {"decision": "approve"}, "alice", by_hash=True)
    assert status == 403
    assert post_decision(engine, run_id, APPROVER_SESSION, {"decision": "reject"}, "carol", by_hash=True)[0] == 200
    engine.wait(run_id, timeout_seconds=30)


def test_unknown_runs_and_approvals_are_404_and_a_decided_one_is_409(engine: LocalEngine) -> None:
    """Given a run waiting for approval
    When a decision names an unknown run or approval / Then 404 naming it
    When the approval is decided, then decided again / Then the second is 409 (nothing is decided twice)."""
    unknown_run = "approve_20260101T000000-000000000000"
    assert (
        post_decision(engine, unknown_run, APPROVER_SESSION, {"decision": "approve", "arguments_sha256": "0" * 64})[0]
        == 404
    )
    assert post_decision(engine, "not a run id", APPROVER_SESSION, {"decision": "approve"})[0] == 400
    run_id = start_as(engine, STARTER)
    approval = held(engine, run_id)
    other = {"decision": "approve", "approval_id": "ap-" + "f" * 20}
    assert post_decision(engine, run_id, APPROVER_SESSION, other) == (
        404,
        {"error": f"no approval {'ap-' + 'f' * 20} in run {run_id!r}", "field": "approval_id"},
    )
    body = {"decision": "approve", "approval_id": approval.approval_id}
    status, answer = post_decision(engine, run_id, APPROVER_SESSION, body)
    assert (status, answer["state"], answer["approver"]) == (200, "approved", app.APPROVER)
    assert post_decision(engine, run_id, APPROVER_SESSION, body)[0] == 409
    engine.wait(run_id, timeout_seconds=30)
    assert post_decision(engine, run_id, APPROVER_SESSION, body)[0] == 409


def test_a_waiting_run_shows_its_approvals_to_its_starter_and_to_approvers(engine: LocalEngine, waiting: str) -> None:
    """Given a waiting run / When its starter or an approver reads it / Then its pending approval is listed (the
    approver may read it, to decide); anyone else gets 404."""
    for caller in (STARTER, APPROVER_SESSION):
        status, run = call(
            engine, caller, httpMethod="GET", resource="/runs/{run_id}", pathParameters={"run_id": waiting}
        )
        assert status == 200
        (approval,) = run["approvals"]
        assert (approval["tool"], approval["state"]) == ("pay_out", "pending")
    assert (
        call(engine, STRANGER, httpMethod="GET", resource="/runs/{run_id}", pathParameters={"run_id": waiting})[0]
        == 404
    )
