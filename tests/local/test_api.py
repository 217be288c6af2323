"""The workflow API, in-process on the offline deployment: what a caller sees for good and bad requests, and
what another caller may not see."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.api import handle_request, principal_of
from baton.local.engine import LocalEngine

ME = "arn:aws:sts::123456789012:assumed-role/support-app/session-1"
MY_OTHER_SESSION = "arn:aws:sts::123456789012:assumed-role/support-app/session-2"
SOMEONE_ELSE = "arn:aws:iam::123456789012:user/mallory"


def call(engine: LocalEngine, method: str, resource: str, caller: str | None = ME, **event: Any) -> tuple[int, Any]:
    context = {"requestId": "r-1", "identity": {"userArn": caller}} if caller is not None else {"requestId": "r-1"}
    request = {"httpMethod": method, "resource": resource, "requestContext": context, **event}
    response = handle_request(request, engine.catalog.workflows, engine.starter, engine.store)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def start(
    engine: LocalEngine, body: Any, headers: dict[str, str] | None = None, caller: str = ME
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return call(
        engine,
        "POST",
        "/workflows/{name}/runs",
        caller,
        pathParameters={"name": "relay"},
        body=raw,
        headers=headers or {},
    )


def get(engine: LocalEngine, run_id: str, caller: str = ME) -> tuple[int, Any]:
    return call(engine, "GET", "/runs/{run_id}", caller, pathParameters={"run_id": run_id})


def test_a_run_started_through_the_api_completes_and_reads_back(engine: LocalEngine) -> None:
    # Given a valid request / When it is posted
    status, body = start(engine, {"input": {"item_id": "IT-1"}})
    # Then 202 with the run id, and GET /runs/{id} reports the finished run with its steps
    assert status == 202
    assert body["status"] == "RUNNING"
    assert body["run_id"].startswith("relay_")
    assert body["links"]["self"] == f"/runs/{body['run_id']}"
    engine.wait(body["run_id"], timeout_seconds=30)
    status, run = get(engine, body["run_id"])
    assert status == 200
    assert run["status"] == "SUCCEEDED"
    assert [s["agent"] for s in run["steps"]] == ["reader", "scorer", "notifier"]
    assert "audit" not in run
    assert "context" not in run


@pytest.mark.attack("ASI03")
def test_a_run_is_visible_only_to_the_principal_that_started_it(engine: LocalEngine) -> None:
    # Given a run started by a role's session
    _, body = start(engine, {"input": {"item_id": "IT-1"}})
    engine.wait(body["run_id"], timeout_seconds=30)
    # Then another session of the same role reads it, while another principal gets the answer for no run at all
    assert get(engine, body["run_id"], MY_OTHER_SESSION)[0] == 200
    assert get(engine, body["run_id"], SOMEONE_ELSE) == (
        404,
        {"error": f"run {body['run_id']!r} not found", "field": "run_id"},
    )


def test_a_declared_reader_role_reads_every_run_of_its_workflow(engine: LocalEngine) -> None:
    # Given the relay workflow declaring an auditor role as reader
    auditor = "arn:aws:iam::123456789012:role/auditor"
    relay = engine.catalog.workflows["relay"]
    engine.catalog.workflows["relay"] = relay.model_copy(update={"reader_roles": (auditor,)})
    try:
        _, body = start(engine, {"input": {"item_id": "IT-1"}})
        engine.wait(body["run_id"], timeout_seconds=30)
        # Then a session of that role reads a run it did not start
        assert get(engine, body["run_id"], "arn:aws:sts::123456789012:assumed-role/auditor/alice")[0] == 200
    finally:
        engine.catalog.workflows["relay"] = relay


def test_a_request_without_an_authenticated_principal_is_refused(engine: LocalEngine) -> None:
    status, body = call(engine, "POST", "/workflows/{name}/runs", None, pathParameters={"name": "relay"}, body="{}")
    assert status == 403
    assert "principal" in body["error"]


@pytest.mark.attack("ASI03")
def test_the_same_idempotency_key_starts_one_run_per_caller(engine: LocalEngine) -> None:
    headers = {"idempotency-key": "checkout-42"}
    first = start(engine, {"input": {"item_id": "IT-2"}}, headers)
    second = start(engine, {"input": {"item_id": "IT-2"}}, headers)
    assert first[0] == second[0] == 202
    assert first[1]["run_id"] == second[1]["run_id"]
    conflict = start(engine, {"input": {"item_id": "IT-1"}}, headers)
    assert conflict == (
        409,
        {"error": "this Idempotency-Key was already used for a different request", "field": "Idempotency-Key"},
    )
    # another principal using the same key never learns, nor gets, the first caller's run
    theirs = start(engine, {"input": {"item_id": "IT-2"}}, headers, caller=SOMEONE_ELSE)
    assert theirs[0] == 202
    assert theirs[1]["run_id"] != first[1]["run_id"]
    for run_id in {first[1]["run_id"], theirs[1]["run_id"]}:
        engine.wait(run_id, timeout_seconds=30)


@pytest.mark.attack("ASI09")
def test_step_errors_are_summarized_never_an_agents_own_message(engine: LocalEngine) -> None:
    # Given a payout whose payer fails with a message carrying remote, injected text
    _, body = call(
        engine,
        "POST",
        "/workflows/{name}/runs",
        pathParameters={"name": "payout"},
        body=json.dumps({"input": {"item_id": "IT-1", "mode": "catch_then_pay"}}),
    )
    engine.wait(body["run_id"], timeout_seconds=30)
    _, run = get(engine, body["run_id"])
    payer = next(s for s in run["steps"] if s["agent"] == "payer")
    # Then the API says what failed and how often, not what the agent's exception said
    assert payer["error"] == "ToolDenied after 1 attempt"
    assert "irreversible" not in json.dumps(run)


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ("", {}, "body"),
        ("{not json", {}, "body"),
        ("[1, 2]", {}, "body"),
        ({"item_id": "IT-1"}, {}, "input"),
        ({"input": {"item_id": "1"}}, {}, "input.item_id"),
        ({"input": {"item_id": "IT-1", "pay_to": "attacker"}}, {}, "input.pay_to"),
        ({"input": {"item_id": "IT-1"}}, {"Idempotency-Key": "has spaces"}, "Idempotency-Key"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field(
    engine: LocalEngine, body: Any, headers: dict[str, str], field: str
) -> None:
    status, response = start(engine, body, headers)
    assert status == 400
    assert response["field"] == field
    assert response["error"]


def test_unknown_workflows_runs_and_routes_are_404s(engine: LocalEngine) -> None:
    unknown_workflow = call(
        engine, "POST", "/workflows/{name}/runs", pathParameters={"name": "payroll"}, body='{"input": {}}'
    )
    assert unknown_workflow[0] == 404
    assert unknown_workflow[1]["field"] == "name"
    assert get(engine, "payroll_20200101T000000-000000000000")[0] == 404
    assert get(engine, "nope")[0] == 400
    assert get(engine, "../../etc")[0] == 400
    assert call(engine, "DELETE", "/runs/{run_id}")[0] == 404


def test_a_principal_is_its_role_not_one_of_its_sessions() -> None:
    assert principal_of(ME) == principal_of(MY_OTHER_SESSION) == "arn:aws:iam::123456789012:role/support-app"
    assert principal_of(SOMEONE_ELSE) == SOMEONE_ELSE
