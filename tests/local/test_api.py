"""The workflow API, in-process on the offline deployment: what a caller sees for good and bad requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.api import handle_request
from baton.local.engine import LocalEngine


def call(engine: LocalEngine, method: str, resource: str, **event: Any) -> tuple[int, dict[str, Any]]:
    response = handle_request({"httpMethod": method, "resource": resource, **event}, engine.starter, engine.store)
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def start(engine: LocalEngine, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return call(
        engine, "POST", "/workflows/{name}/runs", pathParameters={"name": "refund"}, body=raw, headers=headers or {}
    )


def test_a_run_started_through_the_api_completes_and_reads_back(engine: LocalEngine) -> None:
    # Given a valid request / When it is posted
    status, body = start(engine, {"input": {"order_id": "ORD-1001"}})
    # Then 202 with the run id, and GET /runs/{id} reports the finished run with its steps
    assert status == 202
    assert body["status"] == "RUNNING"
    assert body["links"]["self"] == f"/runs/{body['run_id']}"
    engine.wait(body["run_id"], timeout_seconds=30)
    status, run = call(engine, "GET", "/runs/{run_id}", pathParameters={"run_id": body["run_id"]})
    assert status == 200
    assert run["status"] == "SUCCEEDED"
    assert [s["agent"] for s in run["steps"]][:2] == ["order_lookup", "return_policy"]
    assert "audit" not in run
    assert "context" not in run


def test_the_same_idempotency_key_starts_one_run(engine: LocalEngine) -> None:
    headers = {"idempotency-key": "checkout-42"}
    first = start(engine, {"input": {"order_id": "ORD-1002"}}, headers)
    second = start(engine, {"input": {"order_id": "ORD-1002"}}, headers)
    assert first[0] == second[0] == 202
    assert first[1]["run_id"] == second[1]["run_id"]
    conflict = start(engine, {"input": {"order_id": "ORD-1003"}}, headers)
    assert conflict == (
        409,
        {"error": "this Idempotency-Key was already used for a different request", "field": "Idempotency-Key"},
    )
    engine.wait(first[1]["run_id"], timeout_seconds=30)


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ("", {}, "body"),
        ("{not json", {}, "body"),
        ("[1, 2]", {}, "body"),
        ({"order_id": "ORD-1001"}, {}, "input"),
        ({"input": {"order_id": "1001"}}, {}, "input.order_id"),
        ({"input": {"order_id": "ORD-1001", "refund_to": "attacker"}}, {}, "input.refund_to"),
        ({"input": {"order_id": "ORD-1001"}}, {"Idempotency-Key": "has spaces"}, "Idempotency-Key"),
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
    assert call(engine, "GET", "/runs/{run_id}", pathParameters={"run_id": "nope"})[0] == 404
    assert call(engine, "GET", "/runs/{run_id}", pathParameters={"run_id": "../../etc"})[0] == 400
    assert call(engine, "DELETE", "/runs/{run_id}")[0] == 404
