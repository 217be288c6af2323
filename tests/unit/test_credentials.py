"""Short-lived credentials: the OAuth client-credentials broker, the STS session policy, the IAM derived for both.

The token endpoint here is an in-process double behind Baton's egress client (the local tests in
tests/local/test_short_lived_credentials.py reach one over real loopback sockets); STS is not involved: the session
policy is judged with baton.iam_eval.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import parse_qs

import boto3
import pytest
from moto import mock_aws
from pydantic import BaseModel, ConfigDict, ValidationError

from baton import clock
from baton.aws import AwsClients
from baton.catalog import (
    AgentSpec,
    Catalog,
    OAuthClientCredentials,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SessionGrant,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.credentials import CredentialsUnavailable, TokenBroker, run_key_patterns, session_name, session_policy
from baton.http import HttpRequest, HttpResponse
from baton.iam import Platform, PlatformRef, agent_role, session_role, session_trust_policy
from baton.iam_eval import Decision, Request, evaluate
from baton.observability import logger, logs_to
from baton.redaction import MASK, REDACTOR
from baton.secrets import SecretsBroker
from baton.tools import ToolBox, ToolContext, ToolDenied

TOKEN_URL = "https://auth.example.com/oauth/token"
# random: the process-wide redactor masks every 8-character piece of a registered value from now on
CLIENT_ID = secrets.token_hex(8)
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/reports"


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


def call_api(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    token = ctx.access_token()
    logger.info("calling the API", extra={"authorization": f"Bearer {token}"})
    return {"sent": f"Bearer {token}"}


def read_client_secret(args: NoArgs, ctx: ToolContext) -> str:
    return ctx.secret("api_client")


def oauth_tool(name: str = "call_api", implementation: str = "tests.unit.test_credentials:call_api") -> ToolSpec:
    return ToolSpec(
        name=name,
        description="calls an API with an OAuth access token",
        implementation=implementation,
        arguments=NoArgs,
        side_effect=SideEffect.READ,
        secrets=("api_client",),
        egress=("api.example.com", "auth.example.com"),
        oauth=OAuthClientCredentials(token_url=TOKEN_URL, secret="api_client", scope="reports:read"),
    )


def session_tool(
    scope: Literal["run", "resource"] = "run", actions: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:PutItem")
) -> ToolSpec:
    return ToolSpec(
        name="write_report",
        description="writes the run's report items",
        implementation="tests.unit.test_credentials:call_api",
        arguments=NoArgs,
        side_effect=SideEffect.WRITE,
        session=SessionGrant(
            actions=actions,
            resource=ResourceRef(kind=ResourceKind.TABLE, name="reports"),
            scope=scope,
        ),
    )


def catalog_of(*tools: ToolSpec) -> Catalog:
    return build_catalog(
        resources=[
            ResourceSpec(kind=ResourceKind.SECRET, name="api_client", description="OAuth client credentials"),
            ResourceSpec(kind=ResourceKind.TABLE, name="reports", description="r", partition_key="pk", public=True),
        ],
        tools=list(tools),
        agents=[
            AgentSpec(
                name="reporter",
                description="r",
                implementation="tests.unit.test_credentials:call_api",
                input_model=NoArgs,
                output_model=NoArgs,
                tools=tuple(t.name for t in tools),
            )
        ],
        workflows=[
            WorkflowSpec(name="reports", description="w", input_model=NoArgs, planner="x.y:Z", agents=("reporter",))
        ],
    )


class TokenEndpoint:
    """The authorization server's token endpoint (RFC 6749 4.4), in process: it checks the client's Basic
    credentials and issues tokens that live `lifetime` seconds; every request it received is kept."""

    def __init__(self, client_id: str, client_secret: str, lifetime: int = 300) -> None:
        self.client_id, self.client_secret, self.lifetime = client_id, client_secret, lifetime
        self.received: list[HttpRequest] = []
        self.issued: list[str] = []
        self.answer: dict[str, Any] | None = None  # a scripted answer instead of a token

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        self.received.append(request)
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return HttpResponse(401, b'{"error": "invalid_client"}')
        if self.answer is not None:
            return HttpResponse(200, json.dumps(self.answer).encode())
        token = secrets.token_urlsafe(24)
        self.issued.append(token)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime, "ext": "allowed"}
        return HttpResponse(200, json.dumps(body).encode())


@pytest.fixture
def client_secret() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def broker(client_secret: str) -> Iterator[SecretsBroker]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        value = json.dumps({"client_id": CLIENT_ID, "client_secret": client_secret})
        arn = client.create_secret(Name="api-client", SecretString=value)["ARN"]
        yield SecretsBroker(lambda: client, {"api_client": arn}, max_age_seconds=0)


@pytest.fixture
def endpoint(client_secret: str) -> TokenEndpoint:
    return TokenEndpoint(CLIENT_ID, client_secret)


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


def toolbox(catalog: Catalog, broker: SecretsBroker, tokens: TokenBroker, endpoint: TokenEndpoint) -> ToolBox:
    def make_context(spec: ToolSpec) -> ToolContext:
        return ToolContext(spec, "reports_r1", {}, AwsClients(), broker, endpoint, tokens=tokens)

    return ToolBox(catalog.agents["reporter"], catalog, make_context, inputs_trusted=True)


# ---------------------------------------------------------------- the token broker


def test_a_token_is_cached_until_shortly_before_it_expires_then_refreshed(
    broker: SecretsBroker, endpoint: TokenEndpoint
) -> None:
    # Given a tool with client credentials and a token endpoint issuing tokens for 300 s (refresh skew 60 s)
    tool, tokens = oauth_tool(), TokenBroker(broker, endpoint)
    # When the tool asks for a token twice within its life
    first = tokens.token(tool)
    clock.advance(200)
    again = tokens.token(tool)
    # Then one token request was sent: a client_credentials grant with the declared scope, to the declared endpoint
    assert first == again == endpoint.issued[0]
    (request,) = endpoint.received
    assert (request.method, request.url) == ("POST", TOKEN_URL)
    assert parse_qs(request.body.decode()) == {"grant_type": ["client_credentials"], "scope": ["reports:read"]}  # type: ignore[union-attr]
    # When the clock passes expiry minus the skew / Then a new token is fetched and handed out
    clock.advance(41)
    refreshed = tokens.token(tool)
    assert refreshed == endpoint.issued[1] != first
    assert tokens.fetches == 2


def test_tokens_are_cached_per_tool_and_scope(broker: SecretsBroker, endpoint: TokenEndpoint) -> None:
    # Given two tools with the same client credentials
    tokens = TokenBroker(broker, endpoint)
    one, other = oauth_tool("call_api"), oauth_tool("call_other")
    # When each asks for a token / Then each has its own
    assert tokens.token(one) != tokens.token(other)
    assert tokens.token(one) == endpoint.issued[0]


@pytest.mark.attack("ASI03")
def test_the_client_secret_never_appears_in_a_tools_arguments_output_logs_or_records(
    broker: SecretsBroker, endpoint: TokenEndpoint, client_secret: str
) -> None:
    # Given an agent whose tool authenticates with client credentials, its logs captured
    catalog = catalog_of(oauth_tool())
    box = toolbox(catalog, broker, TokenBroker(broker, endpoint), endpoint)
    stream = io.StringIO()
    # When the tool runs and logs its Authorization header
    with logs_to(stream):
        output = box.call("call_api")
    # Then the tool had the token (its output says so) and never the client secret; the logs mask the token too
    token = endpoint.issued[0]
    assert output == {"sent": f"Bearer {token}"}
    assert client_secret not in json.dumps(output)
    logged = stream.getvalue()
    assert logged
    assert client_secret not in logged
    assert token not in logged
    assert MASK in logged
    # and the call's record (what the audit gets) holds neither
    recorded = json.dumps([r.model_dump(mode="json") for r in box.records])
    assert client_secret not in recorded
    assert token not in recorded
    # and both are registered with the redactor, in every encoding it masks
    basic = base64.b64encode(f"{CLIENT_ID}:{client_secret}".encode()).decode()
    for text in (client_secret, token, basic, json.dumps({"secret": client_secret})):
        assert client_secret not in REDACTOR.redact(text)
        assert token not in REDACTOR.redact(text)


@pytest.mark.attack("ASI03")
def test_a_tool_body_reading_its_client_secret_is_refused_and_recorded(
    broker: SecretsBroker, endpoint: TokenEndpoint
) -> None:
    # Given a tool with client credentials whose body tries to read the secret holding them
    tool = oauth_tool(implementation="tests.unit.test_credentials:read_client_secret")
    box = toolbox(catalog_of(tool), broker, TokenBroker(broker, endpoint), endpoint)
    # When it runs / Then the read is refused, the call recorded as denied, and no token was even requested
    with pytest.raises(ToolDenied, match="may not read its client-credentials secret 'api_client'"):
        box.call("call_api")
    assert [(r.outcome, r.tool) for r in box.records] == [("denied", "call_api")]
    assert box.denied
    assert endpoint.received == []


@pytest.mark.attack("ASI03")
def test_a_token_endpoint_outside_the_tools_egress_is_refused_at_load() -> None:
    # Given a tool whose token endpoint is on a host its egress does not list (the client secret would go there)
    # When it is declared / Then the catalog refuses it, naming the endpoint's origin
    with pytest.raises(ValidationError, match="token endpoint's origin must be in its egress"):
        ToolSpec(
            name="call_api",
            description="d",
            implementation="tests.unit.test_credentials:call_api",
            arguments=NoArgs,
            side_effect=SideEffect.READ,
            secrets=("api_client",),
            egress=("api.example.com",),
            oauth=OAuthClientCredentials(token_url="https://collector.example.net/token", secret="api_client"),
        )


def test_the_client_credentials_secret_must_be_among_the_tools_secrets() -> None:
    with pytest.raises(ValidationError, match="client-credentials secret 'api_client' must be among its secrets"):
        ToolSpec(
            name="call_api",
            description="d",
            implementation="tests.unit.test_credentials:call_api",
            arguments=NoArgs,
            side_effect=SideEffect.READ,
            egress=("auth.example.com",),
            oauth=OAuthClientCredentials(token_url=TOKEN_URL, secret="api_client"),
        )


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"access_token": "t" * 20, "token_type": "mac", "expires_in": 300}, "token_type"),
        ({"access_token": "t" * 20, "token_type": "Bearer"}, "expires_in"),
        ({"access_token": "short", "token_type": "Bearer", "expires_in": 300}, "access_token"),
        ({"access_token": "t" * 20, "token_type": "Bearer", "expires_in": -5}, "expires_in"),
    ],
)
def test_an_invalid_token_response_is_refused_naming_the_field_never_its_value(
    broker: SecretsBroker, endpoint: TokenEndpoint, answer: dict[str, Any], why: str
) -> None:
    # Given a token endpoint answering something that is not a valid bearer token response
    endpoint.answer = answer
    # When the broker asks / Then it refuses the answer, naming what is wrong and nothing it holds
    with pytest.raises(CredentialsUnavailable, match=why) as raised:
        TokenBroker(broker, endpoint).token(oauth_tool())
    assert "tttttttt" not in str(raised.value)


def test_a_refused_client_is_no_token_and_not_retried(broker: SecretsBroker, endpoint: TokenEndpoint) -> None:
    # Given an endpoint that knows another secret for the client
    endpoint.client_secret = "another-secret-of-the-client"
    # When the broker asks / Then the refusal is permanent (a 401 is no outage)
    with pytest.raises(CredentialsUnavailable, match=r"refused the client \(401\)") as raised:
        TokenBroker(broker, endpoint).token(oauth_tool())
    assert raised.value.retryable is False


# ---------------------------------------------------------------- STS sessions: names, policies, derived IAM


def test_the_session_name_is_the_run_id_within_stss_pattern() -> None:
    assert session_name("reports_a1B2-c3") == "reports_a1B2-c3"
    long_id = "reports-" + "x" * 30 + "_" + "y" * 39  # a valid run id of 78 characters
    name = session_name(long_id)
    assert len(name) == 64
    assert name.startswith(long_id[:55])
    assert session_name("a b/c") != "a b/c"
    assert " " not in session_name("a b/c")


@pytest.mark.attack("ASI03")
def test_a_session_policy_allows_the_runs_own_items_and_denies_its_neighbours() -> None:
    # Given the session policy of run reports_a1 for a run-scoped grant on the reports table
    policy = session_policy(session_tool().session, TABLE_ARN, "reports_a1")  # type: ignore[arg-type]

    def put(*keys: str, action: str = "dynamodb:PutItem") -> Decision:
        return evaluate(policy, Request(action, TABLE_ARN, {"dynamodb:LeadingKeys": list(keys)}))

    # Then (positive control) the run's own items are allowed: its id, and its id then '#'
    assert put("reports_a1") is Decision.ALLOW
    assert put("reports_a1#summary") is Decision.ALLOW
    assert put("reports_a1#summary", action="dynamodb:GetItem") is Decision.ALLOW
    # and the neighbour run's items are denied, including one whose id starts with this run's id
    assert put("reports_b2") is Decision.IMPLICIT_DENY
    assert put("reports_a10#summary") is Decision.IMPLICIT_DENY
    assert put("reports_a1#summary", "reports_b2#summary") is Decision.IMPLICIT_DENY
    # and so are undeclared actions and other tables
    assert put("reports_a1", action="dynamodb:DeleteItem") is Decision.IMPLICIT_DENY
    other = Request(
        "dynamodb:GetItem", TABLE_ARN.replace("reports", "orders"), {"dynamodb:LeadingKeys": ["reports_a1"]}
    )
    assert evaluate(policy, other) is Decision.IMPLICIT_DENY


def test_a_run_id_with_iam_wildcards_cannot_scope_a_session() -> None:
    with pytest.raises(CredentialsUnavailable):
        run_key_patterns("reports_*")


@pytest.mark.attack("ASI03")
def test_a_run_scoped_session_may_not_grant_a_scan_which_carries_no_leading_keys() -> None:
    # Given a run-scoped session granting Scan (no dynamodb:LeadingKeys: ForAllValues would admit every run's items)
    # When it is declared / Then it is refused
    with pytest.raises(ValidationError, match="carry dynamodb:LeadingKeys"):
        session_tool(actions=("dynamodb:Scan",))
    with pytest.raises(ValidationError, match="narrows a table's items"):
        SessionGrant(actions=("sqs:SendMessage",), resource=ResourceRef(kind=ResourceKind.QUEUE, name="q"))


def test_the_agent_may_assume_exactly_its_tools_session_role_and_holds_none_of_the_session_grant() -> None:
    # Given an agent whose tool declares a session on the reports table
    catalog = catalog_of(session_tool())
    statements = {s.sid: s for s in agent_role(catalog, catalog.agents["reporter"]).statements}
    # Then its own role may assume that tool's session role and nothing else, and holds no dynamodb action
    assume = statements["AssumeSessionWriteReport"]
    assert assume.actions == ("sts:AssumeRole",)
    assert assume.resources == (PlatformRef(kind=Platform.SESSION_ROLE, name="write_report"),)
    assert not [a for s in statements.values() for a in s.actions if a.startswith("dynamodb:")]
    # and the session role holds exactly the declared grant, trusted by the named agent roles only
    (grant,) = session_role(catalog, "write_report").statements
    assert (grant.actions, grant.resources) == (
        ("dynamodb:GetItem", "dynamodb:PutItem"),
        (ResourceRef(kind=ResourceKind.TABLE, name="reports"),),
    )
    trust = session_trust_policy(["arn:aws:iam::123456789012:role/agent-reporter"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::123456789012:role/agent-reporter"]},
            "Action": "sts:AssumeRole",
        }
    ]


def test_an_oauth_tools_secret_grant_is_derived_from_its_declaration() -> None:
    catalog = catalog_of(oauth_tool())
    statements = agent_role(catalog, catalog.agents["reporter"]).statements
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in s.actions]
    assert [s.resources for s in reads] == [(ResourceRef(kind=ResourceKind.SECRET, name="api_client"),)]


def test_rotation_days_need_a_rotation_function_and_only_secrets_rotate() -> None:
    from baton.catalog import CatalogError

    with pytest.raises(CatalogError, match="declares rotation_days but no rotation_function_arn"):
        build_catalog(
            resources=[ResourceSpec(kind=ResourceKind.SECRET, name="k", description="k", rotation_days=7)],
            tools=[],
            agents=[],
            workflows=[],
        )
