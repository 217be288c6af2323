"""The workflow API behind API Gateway (REST, proxy integration, IAM authorization).

POST /workflows/{name}/runs   body {"input": {...}}, optional Idempotency-Key header -> 202 {run_id, ...}
GET  /runs/{run_id}                                                                 -> 200 {status, result, steps}

Every 4xx names what is wrong; nothing unexpected ever leaves as a stack trace.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import JsonValue, ValidationError

from baton.models import Strict, invalid_fields
from baton.observability import logger
from baton.runs import InvalidRunInput, RunStarter, read_run
from baton.state import IdempotencyConflict, RunNotFound, StateStore

RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_BODY_BYTES = 256_000


class StartRunBody(Strict):
    input: dict[str, JsonValue]


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }


def _error(status: int, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return _response(status, body)


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value if isinstance(value, str) else None
    return None


def _path_parameter(event: dict[str, Any], name: str) -> Any:
    parameters = event.get("pathParameters")
    return parameters.get(name) if isinstance(parameters, dict) else None


def handle_request(event: dict[str, Any], starter: RunStarter, store: StateStore) -> dict[str, Any]:
    try:
        method = event.get("httpMethod")
        resource = event.get("resource")
        if resource == "/workflows/{name}/runs" and method == "POST":
            return _start_run(event, starter)
        if resource == "/runs/{run_id}" and method == "GET":
            return _get_run(event, store)
        return _error(404, f"no route for {method} {resource}")
    except Exception:  # the caller learns nothing about internals; the log has the trace
        logger.exception("unhandled error in the workflow API")
        return _error(500, "internal error")


def _start_run(event: dict[str, Any], starter: RunStarter) -> dict[str, Any]:
    name = _path_parameter(event, "name")
    if not isinstance(name, str) or not name:
        return _error(400, "the workflow name is missing from the path", "name")
    key = _header(event, "Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        return _error(400, "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 _ . : -", "Idempotency-Key")
    raw = event.get("body")
    if not isinstance(raw, str) or not raw:
        return _error(400, "the request body must be a JSON object with an 'input' object", "body")
    if len(raw.encode()) > MAX_BODY_BYTES:
        return _error(400, f"the request body is larger than {MAX_BODY_BYTES} bytes", "body")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        return _error(400, f"the request body is not valid JSON: {error.msg} at character {error.pos}", "body")
    except (ValueError, RecursionError):  # integers beyond Python's digit limit, absurd nesting
        return _error(
            400, "the request body is not JSON Baton accepts (too deeply nested or too large a number)", "body"
        )
    try:
        body = StartRunBody.model_validate(parsed)
    except ValidationError as error:
        first = invalid_fields(error).split(",")[0]
        return _error(
            400, "the request body must be an object with an 'input' object", "body" if first == "(root)" else first
        )
    try:
        meta = starter.start(name, body.input, key)
    except IdempotencyConflict as error:
        return _error(409, str(error), "Idempotency-Key")
    except InvalidRunInput as error:
        if error.fields == ["workflow"]:
            return _error(404, str(error), "name")
        return _error(400, str(error), "input." + error.fields[0] if error.fields else "input")
    return _response(
        202,
        {
            "run_id": meta.run_id,
            "workflow": meta.workflow,
            "status": meta.status.value,
            "links": {"self": f"/runs/{meta.run_id}"},
        },
    )


def _get_run(event: dict[str, Any], store: StateStore) -> dict[str, Any]:
    run_id = _path_parameter(event, "run_id")
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        return _error(400, "run_id must be 1-80 characters of A-Z a-z 0-9 _ -", "run_id")
    try:
        record = read_run(store, run_id, with_audit=False)
    except RunNotFound:
        return _error(404, f"run {run_id!r} not found", "run_id")
    body = record.model_dump(mode="json", exclude={"audit", "context"})
    return _response(200, body)
