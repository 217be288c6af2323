"""Short-lived credentials for tools: OAuth 2.0 access tokens and scoped STS sessions.

TokenBroker (a tool declaring `oauth=OAuthClientCredentials(...)`): reads the client id and secret through the
secrets broker, POSTs `grant_type=client_credentials` to the declared token endpoint through the tool's own
egress (HttpClient: the allowlist holds, no redirect is followed), validates the answer (RFC 6749 section 5.1),
registers the access token with the redactor, and caches it per (tool, scope) until `refresh_skew_seconds`
before it expires (read on baton.clock, which tests move). The tool gets the token only: ToolContext refuses
the tool body the client-credentials secret.

SessionBroker (a tool declaring `session=SessionGrant(...)`): AssumeRole on the role derived for that tool
(baton.iam.session_role), DurationSeconds 900, RoleSessionName the run id (STS's pattern and length), and a
session policy (`session_policy`) narrowed to the run's resources: the session's permissions are the
intersection of the role's and the session policy's. STS offline (moto) enforces neither the trust policy nor
the session policy, so the tests prove the narrowing by evaluating `session_policy` (baton.iam_eval) against the
calls made, with positive controls.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton import clock
from baton.catalog import SessionGrant, ToolSpec
from baton.egress import HttpError
from baton.http import HttpClient, HttpTransport
from baton.redaction import MIN_FRAGMENT, REDACTOR, Redactor
from baton.secrets import SecretsBroker

MAX_SESSION_SECONDS = 900
SESSION_NAME_MAX = 64
_SESSION_NAME_INVALID = re.compile(r"[^\w+=,.@-]")


class CredentialsUnavailable(Exception):
    """No token or session could be obtained. The message never holds a credential or a response body."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


# ---------------------------------------------------------------- OAuth 2.0 client credentials


class ClientCredentials(BaseModel):
    """The secret's JSON: exactly a client id and a client secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    client_id: str = Field(min_length=1, max_length=1000)
    client_secret: str = Field(min_length=12, max_length=4000)


class TokenResponse(BaseModel):
    """A successful access token response (RFC 6749 section 5.1). The RFC lets a server add parameters
    (section 5.1: "additional parameters"), so extra fields are allowed here and nowhere else; they are dropped."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    access_token: str = Field(min_length=MIN_FRAGMENT, max_length=16_000, pattern=r"^[\x20-\x7e]+$")
    token_type: str = Field(pattern=r"^[Bb][Ee][Aa][Rr][Ee][Rr]$")
    # RFC 6749 recommends it; Baton needs it to know when to refresh (a token without one is refused)
    expires_in: int = Field(ge=1, le=86_400)
    scope: str | None = None


@dataclass(frozen=True)
class _Cached:
    token: str
    refresh_at: float


class TokenBroker:
    """Access tokens per (tool, scope), fetched through the tool's egress and cached until shortly before expiry."""

    def __init__(
        self,
        secrets: SecretsBroker,
        transport: HttpTransport,
        *,
        now: Callable[[], float] = clock.epoch,
        redactor: Redactor = REDACTOR,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._secrets = secrets
        self._transport = transport
        self._now = now
        self._redactor = redactor
        self._timeout = timeout_seconds
        self._cache: dict[tuple[str, str | None], _Cached] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # token requests sent (the tests count them)

    def token(self, tool: ToolSpec) -> str:
        oauth = tool.oauth
        if oauth is None:
            raise CredentialsUnavailable(f"tool {tool.name!r} declares no OAuth client credentials")
        key = (tool.name, oauth.scope)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and self._now() < cached.refresh_at:
                return cached.token
            token, expires_in = self._fetch(tool)
            self._cache[key] = _Cached(token, self._now() + expires_in - oauth.refresh_skew_seconds)
            return token

    def _fetch(self, tool: ToolSpec) -> tuple[str, int]:
        oauth = tool.oauth
        assert oauth is not None  # noqa: S101 - checked by token()
        credentials = self._client_credentials(tool.name, oauth.secret)
        form = {"grant_type": "client_credentials"} | ({"scope": oauth.scope} if oauth.scope else {})
        # HTTP Basic with form-urlencoded id and secret (RFC 6749 section 2.3.1)
        basic = f"{quote(credentials.client_id, safe='')}:{quote(credentials.client_secret, safe='')}"
        authorization = "Basic " + base64.b64encode(basic.encode()).decode("ascii")
        self._redactor.register(authorization.removeprefix("Basic "))
        client = HttpClient(tool.egress, self._transport, self._timeout, follow_redirects=False)
        self.fetches += 1
        try:
            response = client.request(
                "POST",
                oauth.token_url,
                headers={"Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"},
                content=urlencode(form).encode(),
            )
        except HttpError as error:
            raise CredentialsUnavailable(f"tool {tool.name!r}: token endpoint: {error}", retryable=True) from None
        if response.status == 429 or response.status >= 500:
            raise CredentialsUnavailable(
                f"tool {tool.name!r}: token endpoint answered {response.status}", retryable=True
            )
        if response.status != 200:
            raise CredentialsUnavailable(f"tool {tool.name!r}: token endpoint refused the client ({response.status})")
        try:
            answer = TokenResponse.model_validate(json.loads(response.body))
        except (ValueError, ValidationError) as error:
            fields = sorted({str(e["loc"][0]) for e in error.errors()}) if isinstance(error, ValidationError) else []
            raise CredentialsUnavailable(
                f"tool {tool.name!r}: token endpoint's answer is not a valid token response {fields}"
            ) from None
        self._redactor.register(answer.access_token)
        return answer.access_token, answer.expires_in

    def _client_credentials(self, tool: str, secret: str) -> ClientCredentials:
        raw = self._secrets.get(secret)  # registered with the redactor (whole and each leaf) by the broker
        try:
            credentials = ClientCredentials.model_validate_json(raw)
        except ValidationError:
            raise CredentialsUnavailable(
                f"tool {tool!r}: secret {secret!r} is not a JSON object of client_id and client_secret"
            ) from None
        self._redactor.register(credentials.client_secret)
        return credentials


# ---------------------------------------------------------------- scoped STS sessions


def session_name(run_id: str) -> str:
    """The RoleSessionName for a run: the run id itself when STS accepts it (2-64 of [\\w+=,.@-]), else its valid
    characters cut to 55 plus '-' and 8 hex digits of its SHA-256 (still unique, still greppable in CloudTrail)."""
    cleaned = _SESSION_NAME_INVALID.sub("-", run_id)
    if cleaned == run_id and 2 <= len(run_id) <= SESSION_NAME_MAX:
        return run_id
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{cleaned[: SESSION_NAME_MAX - 9]}-{digest}".lstrip("-") or digest


def run_key_patterns(run_id: str) -> tuple[str, ...]:
    """The partition keys of a run's own items: the run id, or the run id then '#'. Never a bare prefix: run
    'refund_a1' must not reach 'refund_a10'."""
    if any(c in run_id for c in "*?$"):  # IAM wildcards and policy variables never come from a run id
        raise CredentialsUnavailable(f"run id {run_id!r} cannot scope a session")
    return (run_id, f"{run_id}#*")


def session_policy(grant: SessionGrant, resource_arn: str, run_id: str) -> dict[str, Any]:
    """The session policy of one run: the declared actions on the declared resource, and for scope 'run' only the
    items whose partition key is the run's (dynamodb:LeadingKeys; every action a run-scoped grant allows carries
    that key, baton.catalog.RUN_SCOPED_DYNAMODB_ACTIONS)."""
    statement: dict[str, Any] = {
        "Sid": "RunScoped" if grant.scope == "run" else "DeclaredResource",
        "Effect": "Allow",
        "Action": list(grant.actions),
        "Resource": [resource_arn],
    }
    if grant.scope == "run":
        statement["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(run_key_patterns(run_id))}}
    return {"Version": "2012-10-17", "Statement": [statement]}


ClientMaker = Callable[[str, dict[str, str]], Any]


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float  # epoch seconds
    policy: dict[str, Any]
    session_name: str


class SessionBroker:
    """One STS session per (tool, run), reused until a minute before it expires; clients made on its credentials."""

    def __init__(
        self,
        sts_client_factory: Callable[[], Any],
        role_arns: dict[str, str],
        resource_arns: dict[str, str],
        *,
        make_client: ClientMaker | None = None,
        now: Callable[[], float] = clock.epoch,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self._sts_factory = sts_client_factory
        self._sts: Any = None
        self._role_arns = role_arns
        self._resource_arns = resource_arns
        self._make_client = make_client or _boto3_client
        self._now = now
        self._redactor = redactor
        self._sessions: dict[tuple[str, str], SessionCredentials] = {}
        self._lock = threading.Lock()
        self.assumed: list[dict[str, Any]] = []  # the AssumeRole requests sent (without credentials)

    def credentials(self, tool: ToolSpec, run_id: str) -> SessionCredentials:
        grant = tool.session
        if grant is None:
            raise CredentialsUnavailable(f"tool {tool.name!r} declares no session")
        role_arn = self._role_arns.get(tool.name)
        resource_arn = self._resource_arns.get(grant.resource.name)
        if role_arn is None or resource_arn is None:
            raise CredentialsUnavailable(f"tool {tool.name!r}: its session role or resource is not configured")
        key = (tool.name, run_id)
        with self._lock:
            cached = self._sessions.get(key)
            if cached is not None and self._now() < cached.expiration - 60:
                return cached
            policy = session_policy(grant, resource_arn, run_id)
            name = session_name(run_id)
            request: dict[str, Any] = {
                "RoleArn": role_arn,
                "RoleSessionName": name,
                "DurationSeconds": min(grant.duration_seconds, MAX_SESSION_SECONDS),
                "Policy": json.dumps(policy, separators=(",", ":")),
            }
            if self._sts is None:
                self._sts = self._sts_factory()
            try:
                answer = self._sts.assume_role(**request)["Credentials"]
            except Exception as error:  # the SDK's message names the role, never a credential
                raise CredentialsUnavailable(
                    f"tool {tool.name!r}: AssumeRole failed: {type(error).__name__}", retryable=True
                ) from None
            self.assumed.append(request)
            for value in (answer["SecretAccessKey"], answer["SessionToken"]):
                self._redactor.register(value)
            expiration = answer["Expiration"]
            session = SessionCredentials(
                access_key_id=answer["AccessKeyId"],
                secret_access_key=answer["SecretAccessKey"],
                session_token=answer["SessionToken"],
                expiration=expiration.timestamp() if hasattr(expiration, "timestamp") else float(expiration),
                policy=policy,
                session_name=name,
            )
            self._sessions[key] = session
            return session

    def client(self, tool: ToolSpec, run_id: str, service: str) -> Any:
        session = self.credentials(tool, run_id)
        return self._make_client(
            service,
            {
                "aws_access_key_id": session.access_key_id,
                "aws_secret_access_key": session.secret_access_key,
                "aws_session_token": session.session_token,
            },
        )


def _boto3_client(service: str, credentials: dict[str, str]) -> Any:
    import boto3

    session = boto3.Session(
        aws_access_key_id=credentials["aws_access_key_id"],
        aws_secret_access_key=credentials["aws_secret_access_key"],
        aws_session_token=credentials["aws_session_token"],
    )
    return session.client(service)  # type: ignore[call-overload]
