"""The workflow API behind API Gateway (REST, proxy integration, IAM authorization).

POST /workflows/{name}/runs   body {"input": {...}}, optional Idempotency-Key header -> 202 {run_id, ...}
GET  /runs/{run_id}                                                                 -> 200 {status, result, steps}
POST /runs/{run_id}/approvals  body {"approval_id" | "arguments_sha256", "decision": "approve"|"reject", "reason"}
                                                                                    -> 200 {approval_id, state, ...}

Who may do what: API Gateway authenticates every request with SigV4 (AWS_IAM), and this function
authorizes. The caller's principal is stored with the run; a run is visible only to the principal that
started it and to the workflow's declared reader and approver roles (anyone else gets 404, as for a run that
does not exist). Idempotency keys are scoped per caller. Step errors are summarized, never an agent's own message.
A decision on an approval is taken only from one of the workflow's approver roles (403 otherwise), never from the
run's starter (403: same role, or same source identity), and once (409 when replayed, already decided or
expired): see baton.approvals. Every 4xx names what is wrong; nothing unexpected ever leaves as a stack trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue, ValidationError

from baton import keys
from baton.approvals import ApprovalDesk, ApprovalRefused, DecisionBody, Identity
from baton.catalog import WorkflowSpec
from baton.models import Strict, TaskOutcome, invalid_fields
from baton.observability import logger
from baton.runs import InvalidRunInput, RunRecord, RunStarter, read_run
from baton.store import IdempotencyConflict, RunNotFound, StateStore

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_BODY_BYTES = 256_000
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+$")
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/-]+$")
# sts:SourceIdentity: 2-64 characters of letters, digits and +=,.@-
_SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$")


class StartRunBody(Strict):
    input: dict[str, JsonValue]


def principal_of(arn: str) -> str:
    """The principal a caller acts as: an assumed-role session is its role (two sessions of a role are one caller)."""
    match = _ASSUMED_ROLE.fullmatch(arn)
    if match is None:
        return arn
    partition, account, role = match.groups()
    return f"arn:{partition}:iam::{account}:role/{role}"


def caller_of(event: dict[str, Any]) -> str | None:
    """The SigV4-authenticated caller API Gateway puts in the request context (None: not authenticated)."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, dict) else None
    arn = identity.get("userArn") if isinstance(identity, dict) else None
    if not isinstance(arn, str) or not _PRINCIPAL.fullmatch(arn):
        return None
    return principal_of(arn)


def identity_of(event: dict[str, Any]) -> Identity | None:
    """The caller as approvals compare callers: its principal, and its source identity when the request context
    carries one (`requestContext.identity.sourceIdentity`); None: not authenticated."""
    principal = caller_of(event)
    if principal is None:
        return None
    identity = event["requestContext"]["identity"]
    source = identity.get("sourceIdentity")
    return Identity(principal, source if isinstance(source, str) and _SOURCE_IDENTITY.fullmatch(source) else None)


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


def handle_request(
    event: dict[str, Any],
    workflows: Mapping[str, WorkflowSpec],
    starter: RunStarter,
    store: StateStore,
    desk: ApprovalDesk | None = None,
) -> dict[str, Any]:
    try:
        method = event.get("httpMethod")
        resource = event.get("resource")
        identity = identity_of(event)
        if identity is None:
            return _error(403, "the request carries no authenticated IAM principal")
        caller = identity.principal
        if resource == "/workflows/{name}/runs" and method == "POST":
            return _start_run(event, starter, identity)
        if resource == "/runs/{run_id}" and method == "GET":
            return _get_run(event, workflows, store, caller)
        if resource == "/runs/{run_id}/approvals" and method == "POST" and desk is not None:
            return _decide(event, workflows, desk, identity)
        return _error(404, f"no route for {method} {resource}")
    except Exception:  # the caller learns nothing about internals; the log has the trace
        logger.exception("unhandled error in the workflow API")
        return _error(500, "internal error")


def _json_body(event: dict[str, Any], shape: str) -> _Parsed | dict[str, Any]:
    """The request's JSON body, or the 400 response saying what is wrong with it."""
    raw = event.get("body")
    if not isinstance(raw, str) or not raw:
        return _error(400, f"the request body must be a JSON object with {shape}", "body")
    if len(raw.encode()) > MAX_BODY_BYTES:
        return _error(400, f"the request body is larger than {MAX_BODY_BYTES} bytes", "body")
    try:
        return _Parsed(json.loads(raw))
    except json.JSONDecodeError as error:
        return _error(400, f"the request body is not valid JSON: {error.msg} at character {error.pos}", "body")
    except (ValueError, RecursionError):  # integers beyond Python's digit limit, absurd nesting
        return _error(
            400, "the request body is not JSON Baton accepts (too deeply nested or too large a number)", "body"
        )


class _Parsed:
    def __init__(self, value: Any) -> None:
        self.value = value


def _start_run(event: dict[str, Any], starter: RunStarter, identity: Identity) -> dict[str, Any]:
    name = _path_parameter(event, "name")
    if not isinstance(name, str) or not name:
        return _error(400, "the workflow name is missing from the path", "name")
    key = _header(event, "Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        return _error(400, "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 _ . : -", "Idempotency-Key")
    parsed = _json_body(event, "an 'input' object")
    if isinstance(parsed, dict):
        return parsed
    try:
        body = StartRunBody.model_validate(parsed.value)
    except ValidationError as error:
        first = invalid_fields(error).split(",")[0]
        return _error(
            400, "the request body must be an object with an 'input' object", "body" if first == "(root)" else first
        )
    try:
        started = starter.start(name, body.input, identity.principal, key, source_identity=identity.source_identity)
    except IdempotencyConflict as error:
        return _error(409, str(error), "Idempotency-Key")
    except InvalidRunInput as error:
        if error.fields == ["workflow"]:
            return _error(404, str(error), "name")
        return _error(400, str(error), "input." + error.fields[0] if error.fields else "input")
    return _response(
        202,
        {
            "run_id": started.run_id,
            "workflow": started.workflow,
            "status": "RUNNING",
            "links": {"self": f"/runs/{started.run_id}"},
        },
    )


def _workflow_of_run(
    event: dict[str, Any], workflows: Mapping[str, WorkflowSpec]
) -> tuple[str, WorkflowSpec | None] | dict[str, Any]:
    """The path's run id and its workflow (None: no such workflow here), or the 400 for an id that is no run id."""
    run_id = _path_parameter(event, "run_id")
    try:
        workflow = workflows.get(keys.workflow_of(run_id)) if isinstance(run_id, str) else None
    except keys.InvalidRunId:
        return _error(400, "run_id must be <workflow>_<id>: letters, digits, '-' and one '_'", "run_id")
    return (run_id if isinstance(run_id, str) else "", workflow)


def _get_run(
    event: dict[str, Any], workflows: Mapping[str, WorkflowSpec], store: StateStore, caller: str
) -> dict[str, Any]:
    found = _workflow_of_run(event, workflows)
    if isinstance(found, dict):
        return found
    run_id, workflow = found
    not_found = _error(404, f"run {run_id!r} not found", "run_id")
    if workflow is None:
        return not_found
    try:
        record = read_run(store, run_id, with_audit=False)
    except RunNotFound:
        return not_found
    approvers = workflow.approvals.approver_roles if workflow.approvals is not None else ()
    if caller != record.caller and caller not in workflow.reader_roles and caller not in approvers:
        return not_found  # indistinguishable from a run that does not exist
    return _response(200, run_summary(record))


def _decide(
    event: dict[str, Any], workflows: Mapping[str, WorkflowSpec], desk: ApprovalDesk, identity: Identity
) -> dict[str, Any]:
    """POST /runs/{run_id}/approvals: approve or reject one pending approval of the run (see baton.approvals)."""
    found = _workflow_of_run(event, workflows)
    if isinstance(found, dict):
        return found
    run_id, workflow = found
    if workflow is None:
        return _error(404, f"run {run_id!r} not found", "run_id")
    parsed = _json_body(event, "a 'decision' and an 'approval_id' or 'arguments_sha256'")
    if isinstance(parsed, dict):
        return parsed
    try:
        body = DecisionBody.model_validate(parsed.value)
    except ValidationError as error:
        first = invalid_fields(error).split(",")[0]
        if first == "(root)":
            return _error(400, "name the approval by approval_id or by arguments_sha256 (one of them)", "approval_id")
        return _error(400, f"invalid request body field {first!r}", first)
    try:
        decided = desk.decide(workflow, run_id, body, identity)
    except ApprovalRefused as refused:
        return _error(refused.status, str(refused), refused.field)
    approval = decided.approval
    return _response(
        200,
        {
            "run_id": run_id,
            "approval_id": approval.approval_id,
            "state": approval.state.value,
            "approver": approval.approver,
            "resumed": decided.resumed,
            "links": {"run": f"/runs/{run_id}"},
        },
    )


def run_summary(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "workflow": record.workflow,
        "status": record.status.value,
        "result": record.result,
        "reason": record.reason,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "steps": [_step_summary(step) for step in record.steps],
        "audit_head": record.audit_head,
        # model calls and tokens (all zero when no model was called), and their estimated cost (dated list prices)
        "model_usage": record.model_usage.model_dump(),
        "model_cost": None if record.model_cost is None else record.model_cost.model_dump(),
        # what the run waits for (empty when it waits for no one): decide with POST /runs/{run_id}/approvals
        "approvals": [
            {
                "approval_id": a.approval_id,
                "agent": a.agent,
                "tool": a.tool,
                "arguments_sha256": a.arguments_sha256,
                "state": a.state.value,
                "expires_at": a.expires_at,
            }
            for a in record.approvals
        ],
    }


def _step_summary(step: TaskOutcome) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "stage": step.stage,
        "index": step.index,
        "agent": step.agent,
        "key": step.key,
        "status": step.status.value,
        "attempts": step.attempts,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
    }
    if step.model_usage.calls:
        summary["model_usage"] = step.model_usage.model_dump()
    if step.error_type is not None:
        tries = "attempt" if step.attempts == 1 else "attempts"
        summary["error"] = f"{step.error_type} after {step.attempts} {tries}"
    return summary
