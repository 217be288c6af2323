"""Property tests of the workflow API, in-process against the offline deployment.

Hypothesis throws malformed methods, routes, path parameters, headers and bodies (in the shape of API
Gateway proxy events) at `baton.api.handle_request`: never a 5xx, never a stack trace in a response,
every 4xx names what is wrong, and a run starts only for input the workflow's model accepts.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.api import handle_request
from baton.local.engine import LocalEngine
from tests.testapp.models import RelayRequest

START = "/workflows/{name}/runs"
GET = "/runs/{run_id}"
ROUTES = {("POST", START), ("GET", GET)}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
item_ids = st.from_regex(r"\AIT-9[0-9]{1,5}\Z")  # well-formed ids of items that do not exist: short runs
relay_inputs = st.fixed_dictionaries({"item_id": item_ids}, optional={"note": st.text(max_size=60)})
inputs = relay_inputs | st.dictionaries(st.sampled_from(["item_id", "note", "extra", ""]), json_values, max_size=3)
bodies = (
    st.none()
    | st.text(max_size=60)
    | json_values.map(json.dumps)
    | st.builds(lambda value: json.dumps({"input": value}), json_values)
    | st.builds(lambda value: json.dumps({"input": value}), inputs)
    | st.builds(
        lambda value, extra: json.dumps({"input": value, **extra}),
        inputs,
        st.dictionaries(st.text(), json_values, max_size=2),
    )
)
header_names = st.sampled_from(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY", "Content-Type", "X-Other"])
idempotency_keys = st.from_regex(r"\A[A-Za-z0-9_.:-]{1,20}\Z") | st.text(max_size=140)
headers = st.none() | st.dictionaries(header_names, idempotency_keys, max_size=3)
names = st.sampled_from(["relay", "payroll", ""]) | st.text(max_size=30)
run_ids = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}_[A-Za-z0-9-]{1,30}\Z") | st.text(max_size=100)
path_parameters = (
    st.none()
    | st.fixed_dictionaries({"name": names})
    | st.fixed_dictionaries({"run_id": run_ids})
    | st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2)
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]) | st.text(max_size=8)
resources = st.sampled_from([START, GET, "/", "/workflows", "/runs"]) | st.text(max_size=30)
events = st.fixed_dictionaries(
    {
        "httpMethod": methods,
        "resource": resources,
        "pathParameters": path_parameters,
        "headers": headers,
        "body": bodies,
        "isBase64Encoded": st.booleans(),
    }
)
# the requests that reach a route: most examples are spent where the handler has work to do
routed_events = st.one_of(
    st.fixed_dictionaries(
        {
            "httpMethod": st.just("POST"),
            "resource": st.just(START),
            "pathParameters": st.just({"name": "relay"}),
            "headers": headers,
            "body": st.builds(lambda value: json.dumps({"input": value}), relay_inputs),
        }
    ),
    st.fixed_dictionaries(
        {
            "httpMethod": st.just("POST"),
            "resource": st.just(START),
            "pathParameters": st.one_of(st.fixed_dictionaries({"name": names}), path_parameters),
            "headers": headers,
            "body": bodies,
        }
    ),
    st.fixed_dictionaries(
        {
            "httpMethod": st.just("GET"),
            "resource": st.just(GET),
            "pathParameters": st.one_of(st.fixed_dictionaries({"run_id": run_ids}), path_parameters),
        }
    ),
)


IDENTITY = {"requestId": "r-1", "identity": {"userArn": "arn:aws:iam::123456789012:user/prober"}}


def handle(engine: LocalEngine, event: dict[str, Any]) -> dict[str, Any]:
    """The API as API Gateway invokes it: every request SigV4-authenticated, so it carries a principal."""
    return handle_request({**event, "requestContext": IDENTITY}, engine.catalog.workflows, engine.starter, engine.store)


@pytest.fixture(scope="module")
def started(engine: LocalEngine) -> Iterator[list[str]]:
    """Runs the properties happen to start; each is awaited, so none outlives the module's engine."""
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        engine.wait(run_id, timeout_seconds=60)


def check_response(event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    status = response["statusCode"]
    assert status < 500, (event, response)
    assert status in {200, 202, 400, 404, 409}, (event, response)
    assert response["headers"]["Content-Type"] == "application/json"
    text = response["body"]
    assert "Traceback" not in text
    assert 'File "' not in text
    body = json.loads(text)
    assert isinstance(body, dict)
    if status >= 400:
        assert isinstance(body.get("error"), str)
        assert body["error"].strip(), (event, body)
        if (event.get("httpMethod"), event.get("resource")) in ROUTES:
            # on a real route, the error names the part of the request that is wrong
            assert isinstance(body.get("field"), str)
            assert body["field"], (event, body)
        else:
            assert "no route" in body["error"]
    return body


def accepted_input(event: dict[str, Any]) -> bool:
    try:
        body = json.loads(event["body"])
        RelayRequest.model_validate(body["input"])
    except (TypeError, ValueError, KeyError):
        return False
    return (
        isinstance(body, dict) and set(body) == {"input"} and (event.get("pathParameters") or {}).get("name") == "relay"
    )


@SETTINGS
@given(event=events)
def test_any_event_gets_a_json_answer_below_500_that_names_the_problem(
    engine: LocalEngine, started: list[str], event: dict[str, Any]
) -> None:
    # Given any event in the shape API Gateway sends / When the API handles it
    body = check_response(event, handle(engine, event))
    # Then (check_response) no 5xx, no trace, and every 4xx says what is wrong
    if "run_id" in body and body.get("status") == "RUNNING":
        started.append(body["run_id"])


@SETTINGS
@given(event=routed_events)
def test_a_run_starts_only_for_input_the_workflow_accepts(
    engine: LocalEngine, started: list[str], event: dict[str, Any]
) -> None:
    response = handle(engine, event)
    body = check_response(event, response)
    if event["httpMethod"] == "POST":
        key = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "idempotency-key"), None)
        key_ok = key is None or (
            bool(key) and len(key) <= 128 and set(key) <= set(string.ascii_letters + string.digits + "_.:-")
        )
        if response["statusCode"] == 202:
            assert accepted_input(event), event
            assert key_ok, event
            started.append(body["run_id"])
        elif accepted_input(event) and key_ok:
            # a valid request is refused only for a reused idempotency key
            assert response["statusCode"] == 409, (event, body)


@SETTINGS
@given(run_id=st.from_regex(r"\A[a-z][a-z0-9-]{0,10}_[A-Za-z0-9-]{1,30}\Z"))
def test_reading_an_unknown_run_is_a_404_naming_the_run_id(engine: LocalEngine, run_id: str) -> None:
    event = {"httpMethod": "GET", "resource": GET, "pathParameters": {"run_id": run_id}}
    response = handle(engine, event)
    body = check_response(event, response)
    assert response["statusCode"] == 404
    assert body["field"] == "run_id"


# ---------------------------------------------------------------- findings (see the closing report)


def post(body: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "resource": START,
        "pathParameters": {"name": "relay"},
        "headers": headers,
        "body": body,
    }


def test_a_deeply_nested_body_is_a_400(engine: LocalEngine) -> None:
    event = post('{"input": ' + "[" * 100_000 + "]" * 100_000 + "}")
    check_response(event, handle(engine, event))


def test_a_huge_integer_in_the_body_is_a_400(engine: LocalEngine) -> None:
    event = post('{"input": {"item_id": ' + "9" * 5000 + "}}")
    check_response(event, handle(engine, event))


def test_a_run_id_with_a_trailing_newline_is_a_400(engine: LocalEngine) -> None:
    event = {"httpMethod": "GET", "resource": GET, "pathParameters": {"run_id": "abc\n"}}
    assert handle(engine, event)["statusCode"] == 400
