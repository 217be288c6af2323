"""The federated pattern: a tool that consumes another deployment's workflow through that deployment's API.

A peer tool (`ToolSpec(peer=PeerSpec(...))`, implementation `baton.federation:call_peer`) runs in the consuming
deployment's agent function:

1. reads the external id from its declared secret, and assumes the peer's cross-account role through STS
   (`ExternalId`, `RoleSessionName` = the run id, 900 seconds): the agent's role may assume exactly that role
   (baton.iam.assume_peer_statements), and the peer's trust policy admits exactly the declared callers with that
   external id (baton.iam.peer_trust_policy, from the peer's `PeerTrust`);
2. starts the peer's workflow (POST /workflows/{workflow}/runs, Idempotency-Key: the run id) and polls its run
   (GET /runs/{run_id}) until it ends or `run_timeout_seconds` pass, each request signed with SigV4 for
   execute-api (botocore's signer) and sent through the tool's egress (HttpClient: the allowlist holds);
3. validates every answer (the started run, the run's summary, its result against the declared `result_model`):
   the peer's data is untrusted (the tool's output is never trusted) and never more than its model admits.

A peer that refuses (403), times out, fails its run or answers garbage is an `AgentTaskFailed` naming which, never
the peer's own words. The peer's side authorizes by the caller's principal: API Gateway (IAM auth, its resource
policy naming the cross-account role) on AWS, the offline bridge (baton.local.peer_bridge) offline.
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from baton.catalog import PeerSpec
from baton.credentials import MAX_SESSION_SECONDS, session_name
from baton.egress import HttpError
from baton.http import HttpClient, HttpResponse
from baton.keys import RUN_ID_PATTERN
from baton.redaction import REDACTOR
from baton.task_models import invalid_fields
from baton.tools import AgentTaskFailed, ToolContext

SERVICE = "execute-api"
_POLL_SECONDS = 0.2


class PeerRunArgs(BaseModel):
    """The peer workflow's input (validated by the peer's API against its own input model)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    input: dict[str, JsonValue]


class PeerStarted(BaseModel):
    """The peer API's answer to a start (202); extra keys ignored, the run id constrained."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    run_id: str = Field(pattern=RUN_ID_PATTERN)
    status: str = Field(max_length=32)


class PeerRun(BaseModel):
    """The peer API's summary of its run (GET /runs/{run_id}): what this side reads of it."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    run_id: str = Field(pattern=RUN_ID_PATTERN)
    status: str = Field(pattern=r"^[A-Z_]{1,32}$")  # RUNNING, SUCCEEDED, FAILED (a later status: not ended well)
    result: dict[str, JsonValue] | None = None


class PeerCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)  # built at first use (see models.Strict)

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def sign(
    method: str,
    url: str,
    body: bytes,
    credentials: PeerCredentials,
    region: str,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The request's headers with its SigV4 signature for execute-api (botocore's signer, not a copy of it)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
        SERVICE,
        region,
    )
    signer.add_auth(request)
    # the Host header comes from the URL (HttpClient refuses one set by a caller); it is signed all the same
    return {name: value for name, value in request.headers.items() if name.lower() != "host"}


def assume_peer_role(peer: PeerSpec, ctx: ToolContext) -> PeerCredentials:
    """STS AssumeRole on the peer's cross-account role, with the external id and the run id as session name."""
    external_id = ctx.secret(peer.external_id_secret)
    try:
        answer = ctx.aws("sts").assume_role(
            RoleArn=peer.role_arn,
            RoleSessionName=session_name(ctx.run_id),
            ExternalId=external_id,
            DurationSeconds=MAX_SESSION_SECONDS,
        )["Credentials"]
    except Exception as error:  # the SDK's message names the role, never a credential
        raise AgentTaskFailed(f"the peer's role could not be assumed: {type(error).__name__}") from None
    for value in (answer["SecretAccessKey"], answer["SessionToken"]):
        REDACTOR.register(value)
    return PeerCredentials(
        access_key_id=answer["AccessKeyId"],
        secret_access_key=answer["SecretAccessKey"],
        session_token=answer["SessionToken"],
    )


class _Peer:
    def __init__(self, peer: PeerSpec, ctx: ToolContext, credentials: PeerCredentials) -> None:
        self.peer = peer
        self.credentials = credentials
        self.client: HttpClient = ctx.http(timeout_seconds=peer.request_timeout_seconds)
        self.base = peer.api_url.rstrip("/")

    def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
        url = self.base + path
        extra = dict(headers or {})
        if body:
            extra["Content-Type"] = "application/json"
        signed = sign(method, url, body, self.credentials, self.peer.region, extra)
        try:
            response = self.client.request(
                method,
                url,
                headers=signed,
                content=body or None,
                credential_headers=("x-amz-security-token",),
            )
        except HttpError:
            raise AgentTaskFailed(
                f"peer {self.peer.workflow!r} did not answer {method} {path.split('/')[1]} within "
                f"{self.peer.request_timeout_seconds:g} s"
            ) from None
        return self._decoded(method, path, response)

    def _decoded(self, method: str, path: str, response: HttpResponse) -> Any:
        what = f"peer {self.peer.workflow!r} ({method} /{path.split('/')[1]})"
        if response.status in (401, 403):
            raise AgentTaskFailed(f"{what} refused this caller ({response.status}): not trusted by the peer")
        if response.status not in (200, 202):
            raise AgentTaskFailed(f"{what} answered {response.status}")
        try:
            return json.loads(response.body)
        except (ValueError, RecursionError):
            raise AgentTaskFailed(f"{what} answered something that is not JSON") from None


def _validated(model: type[BaseModel], value: Any, what: str) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise AgentTaskFailed(f"{what} failed schema validation: {invalid_fields(error)}") from None


def call_peer(args: PeerRunArgs, ctx: ToolContext) -> dict[str, Any]:
    """Run the peer's workflow through its API and return its result, validated against the declared model."""
    peer = ctx.tool.peer
    if peer is None:
        raise AgentTaskFailed(f"tool {ctx.tool.name!r} declares no peer")
    credentials = assume_peer_role(peer, ctx)
    api = _Peer(peer, ctx, credentials)
    body = json.dumps({"input": args.input}).encode()
    started = _validated(
        PeerStarted,
        api.send("POST", f"/workflows/{peer.workflow}/runs", body, {"Idempotency-Key": session_name(ctx.run_id)}),
        f"peer {peer.workflow!r}'s answer to the start",
    )
    run_id = getattr(started, "run_id", "")
    if not run_id.startswith(f"{peer.workflow}_"):
        raise AgentTaskFailed(f"peer {peer.workflow!r} started a run of another workflow")
    deadline = time.monotonic() + peer.run_timeout_seconds
    while True:
        run = _validated(PeerRun, api.send("GET", f"/runs/{run_id}"), f"peer {peer.workflow!r}'s run summary")
        assert isinstance(run, PeerRun)  # noqa: S101 - for the type checker
        if run.run_id != run_id:
            raise AgentTaskFailed(f"peer {peer.workflow!r} answered about another run")
        if run.status == "SUCCEEDED":
            result = _validated(peer.result_model, run.result, f"peer {peer.workflow!r}'s result")
            return result.model_dump(mode="json")
        if run.status != "RUNNING":
            raise AgentTaskFailed(f"peer {peer.workflow!r}'s run ended {run.status}")
        if time.monotonic() > deadline:
            raise AgentTaskFailed(f"peer {peer.workflow!r}'s run did not end within {peer.run_timeout_seconds:g} s")
        time.sleep(_POLL_SECONDS)
