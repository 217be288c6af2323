"""Short-lived credentials offline: the refund app's payment provider on OAuth client credentials, a token endpoint
double on the loopback interface, and a scoped STS session on moto.

moto's STS enforces no trust policy and no session policy (../shared notes; docs/architecture.md): a session's
narrowing is proven by evaluating the session policy Baton derived (baton.iam_eval) against the calls it made,
with positive controls, never by an AccessDenied moto would not raise.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from pydantic import BaseModel, ConfigDict

from baton import clock
from baton.catalog import OAuthClientCredentials, ResourceKind, ResourceRef, SessionGrant, SideEffect, ToolSpec
from baton.credentials import MAX_SESSION_SECONDS, SessionBroker, TokenBroker, session_policy
from baton.egress import EgressDenied
from baton.http import HttpRequest
from baton.iam_eval import Decision, Request, evaluate
from baton.local.engine import LocalEngine
from baton.local.http import LocalHttpTransport
from baton.observability import logs_to
from baton.secrets import SecretsBroker
from baton.tools import ToolContext
from refund_app.endpoints import PAYMENTS_HOST
from refund_app.offline import FakePaymentProvider


@pytest.fixture(scope="module")
def baton_catalog() -> str:
    return "refund_app.catalog:CATALOG"


@pytest.fixture(scope="module")
def engine(baton_engine: LocalEngine) -> LocalEngine:
    return baton_engine


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    yield
    clock.reset()


def provider(engine: LocalEngine) -> FakePaymentProvider:
    fake: FakePaymentProvider = engine.fixtures["refund"]
    return fake


def client_credentials(engine: LocalEngine) -> dict[str, str]:
    credentials: dict[str, str] = json.loads(engine.secret_value("payment_api_key"))
    return credentials


def fresh_order(engine: LocalEngine, number: int) -> dict[str, str]:
    """A fresh eligible order ORD-88<number> (payment pay_88<number>), so that each test refunds its own."""
    ddb = engine.clients.client("dynamodb")
    order_id = f"ORD-88{number:02d}"
    item = {
        "order_id": {"S": order_id},
        "customer_id": {"S": "CUST-880"},
        "payment_id": {"S": f"pay_88{number:02d}"},
        "amount_cents": {"N": "2500"},
        "currency": {"S": "USD"},
        "category": {"S": "books"},
        "delivered_on": {"S": clock.now_iso()[:10]},
    }
    ddb.put_item(TableName=engine.physical_ids["orders"], Item=item)
    return {"order_id": order_id, "reason": "changed my mind"}


# ---------------------------------------------------------------- the refund app on client credentials


@pytest.mark.attack("ASI03")
def test_a_refund_run_pays_with_an_access_token_and_the_client_secret_is_nowhere_in_its_record_or_logs(
    engine: LocalEngine,
) -> None:
    # Given the refund app, whose payment tool declares client credentials, its logs captured
    secret = client_credentials(engine)["client_secret"]
    fake = provider(engine)
    tokens_before = fake.token_requests
    stream = io.StringIO()
    # When a refund runs end to end
    with logs_to(stream):
        record = engine.run("refund", fresh_order(engine, 1), timeout_seconds=60)
    # Then the provider refunded it, authorised by a token its endpoint issued for the client
    assert record.status == "SUCCEEDED", record.reason
    assert record.result is not None
    assert record.result["outcome"] == "refunded"
    assert fake.token_requests == tokens_before + 1 or fake.token_requests == tokens_before  # cached from before
    assert len(fake.refunds_for("pay_8801")) == 1
    # and the client secret appears nowhere: not in the run record (audit chain, tool arguments and outputs), not
    # in the logs; the access tokens the provider issued neither
    dumped = record.model_dump_json()
    logged = stream.getvalue()
    issued = list(fake._tokens)
    assert issued
    for text in (dumped, logged):
        assert secret not in text
        assert not any(token in text for token in issued)
    # and the audit holds the refund_payment call (its arguments, its outcome) without either
    calls = [entry for entry in record.audit if "refund_payment" in json.dumps(entry)]
    assert calls
    assert secret not in json.dumps(calls)
    assert "client_secret" not in json.dumps(calls)


@pytest.mark.attack("ASI03")
def test_the_provider_refuses_a_forged_or_expired_token_and_accepts_a_fresh_one(engine: LocalEngine) -> None:
    # Given the fake provider and a token its endpoint issued for the declared client
    fake = provider(engine)
    tokens = TokenBroker(_secrets(engine), engine.http)
    tool = engine.catalog.tools["refund_payment"]
    token = tokens.token(tool)

    def refund(authorization: str, key: str) -> int:
        body = json.dumps({"payment_id": "pay_8899", "amount_cents": 100, "currency": "USD"}).encode()
        headers = {"Authorization": authorization, "Idempotency-Key": key}
        return int(fake(HttpRequest("POST", f"https://{PAYMENTS_HOST}/v1/refunds", headers, body)).status)

    # Then (positive control) the fresh token is accepted
    assert refund(f"Bearer {token}", "forged-check-1") == 201
    # and a forged token, the client secret itself and an empty header are refused
    secret = client_credentials(engine)["client_secret"]
    assert refund("Bearer forged-token-0123456789", "forged-check-2") == 401
    assert refund(f"Bearer {secret}", "forged-check-3") == 401
    assert refund("", "forged-check-4") == 401
    # When the clock passes the token's expiry / Then the same token is refused
    clock.advance(301)
    assert refund(f"Bearer {token}", "forged-check-5") == 401
    assert fake.refunds_for("pay_8899") == [fake.ledger["forged-check-1"]]


def test_the_payment_tools_token_is_refreshed_after_it_expires(engine: LocalEngine) -> None:
    # Given a refund run (its function's broker now holds a token)
    fake = provider(engine)
    assert engine.run("refund", fresh_order(engine, 2), timeout_seconds=60).status == "SUCCEEDED"
    before = fake.token_requests
    # When a second run comes within the token's life / Then no new token is requested
    assert engine.run("refund", fresh_order(engine, 3), timeout_seconds=60).status == "SUCCEEDED"
    assert fake.token_requests == before
    # When the clock passes the token's expiry (300 s, refreshed 60 s early) and a third run comes
    clock.advance(250)
    record = engine.run("refund", fresh_order(engine, 4), timeout_seconds=60)
    # Then the broker fetched a new token and the provider accepted it
    assert record.status == "SUCCEEDED", record.reason
    assert fake.token_requests == before + 1
    assert len(fake.refunds_for("pay_8804")) == 1


def _secrets(engine: LocalEngine) -> SecretsBroker:
    client = engine.clients.client("secretsmanager")
    return SecretsBroker(lambda: client, {"payment_api_key": engine.physical_ids["payment_api_key"]}, 0)


# ---------------------------------------------------------------- a token endpoint on the loopback interface


# random: the process-wide redactor masks every 8-character piece of each token it is given
TOKENS = [secrets.token_urlsafe(24) for _ in range(2)]


class _TokenHandler(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)})
        token = TOKENS[len(self.received) - 1]
        body = json.dumps({"access_token": token, "token_type": "bearer", "expires_in": 120}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[tuple[ThreadingHTTPServer, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_TokenHandler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, received
    server.shutdown()
    server.server_close()


@pytest.mark.attack("ASI03")
@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_token_comes_from_a_loopback_endpoint_over_real_sockets_and_an_unlisted_endpoint_gets_nothing(
    engine: LocalEngine, token_server: tuple[ThreadingHTTPServer, list[dict[str, Any]]]
) -> None:
    # Given a token endpoint double listening on 127.0.0.1, granted to its host alone (serve_loopback)
    server, received = token_server
    transport = LocalHttpTransport()
    transport.serve_loopback("auth.example.com", server.server_address[1])
    tool = engine.catalog.tools["refund_payment"].model_copy(
        update={
            "egress": ("http://auth.example.com",),
            "oauth": OAuthClientCredentials(token_url="http://auth.example.com/oauth/token", secret="payment_api_key"),
        }
    )
    tokens = TokenBroker(_secrets(engine), transport)
    # When the broker asks twice / Then one request went over the socket, with the client's Basic credentials
    assert tokens.token(tool) == tokens.token(tool) == TOKENS[0]
    (request,) = received
    assert request["path"] == "/oauth/token"
    assert request["body"] == b"grant_type=client_credentials"
    assert request["headers"]["Authorization"].startswith("Basic ")
    # When the clock passes its expiry (120 s, refreshed 60 s early) / Then the next token is fetched
    clock.advance(61)
    assert tokens.token(tool) == TOKENS[1]
    # Given a declaration whose token endpoint is off the tool's egress (built past validation, as an attacker
    # editing the catalog in memory would) / When the broker asks / Then egress refuses it and nothing is sent
    rogue = tool.model_copy(
        update={
            "oauth": OAuthClientCredentials.model_construct(
                token_url="http://collector.example.net/t",
                secret="payment_api_key",
                scope=None,
                refresh_skew_seconds=60,
            )
        }
    )
    with pytest.raises(EgressDenied, match=r"collector\.example\.net"):
        TokenBroker(_secrets(engine), transport).token(rogue)
    assert len(received) == 2


# ---------------------------------------------------------------- a scoped STS session (moto)


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


SESSION_TOOL = ToolSpec(
    name="write_report",
    description="writes the run's report items",
    implementation="tests.local.test_short_lived_credentials:NoArgs",
    arguments=NoArgs,
    side_effect=SideEffect.WRITE,
    session=SessionGrant(
        actions=("dynamodb:GetItem", "dynamodb:PutItem"), resource=ResourceRef(kind=ResourceKind.TABLE, name="reports")
    ),
)
ROLE_ARN = "arn:aws:iam::123456789012:role/Baton-session-write-report"


def _leading_keys(operation: str, params: dict[str, Any]) -> list[str]:
    item = params.get("Item") or params.get("Key") or {}
    return [item["pk"]["S"]]


@pytest.mark.attack("ASI03")
def test_a_session_is_short_named_after_the_run_and_its_policy_denies_the_neighbour_runs_items(
    engine: LocalEngine,
) -> None:
    # Given a reports table, and a tool whose session grants GetItem and PutItem on it, scoped to the run
    ddb = engine.clients.client("dynamodb")
    ddb.create_table(
        TableName="reports",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table_arn = ddb.describe_table(TableName="reports")["Table"]["TableArn"]
    region = ddb.meta.region_name
    calls: list[tuple[str, dict[str, Any]]] = []
    assumed: list[dict[str, Any]] = []

    def sts() -> Any:
        client = engine.clients.client("sts")
        client.meta.events.register("before-parameter-build.sts.AssumeRole", lambda params, **_: assumed.append(params))
        return client

    def make_client(service: str, credentials: dict[str, str]) -> Any:
        session = boto3.Session(
            region_name=region,
            aws_access_key_id=credentials["aws_access_key_id"],
            aws_secret_access_key=credentials["aws_secret_access_key"],
            aws_session_token=credentials["aws_session_token"],
        )
        client = session.client(service)  # type: ignore[call-overload]
        client.meta.events.register(
            "before-parameter-build", lambda model, params, **_: calls.append((model.name, dict(params)))
        )
        return client

    sessions = SessionBroker(sts, {"write_report": ROLE_ARN}, {"reports": table_arn}, make_client=make_client)
    run_id, neighbour = "reports_a1", "reports_b2"
    ctx = ToolContext(SESSION_TOOL, run_id, {}, engine.clients, _secrets(engine), engine.http, sessions=sessions)
    # When the tool writes and reads its run's items, and then (the attack) a neighbour run's item
    table = ctx.aws_session("dynamodb")
    table.put_item(TableName="reports", Item={"pk": {"S": f"{run_id}#summary"}, "v": {"S": "mine"}})
    table.get_item(TableName="reports", Key={"pk": {"S": f"{run_id}#summary"}})
    table.put_item(TableName="reports", Item={"pk": {"S": f"{neighbour}#summary"}, "v": {"S": "overwritten"}})
    # Then one session was assumed: the derived role, 900 s at most, named after the run, with the derived policy
    (request,) = assumed
    assert request["RoleArn"] == ROLE_ARN
    assert request["DurationSeconds"] <= MAX_SESSION_SECONDS == 900
    assert request["RoleSessionName"] == run_id
    policy = json.loads(request["Policy"])
    assert policy == session_policy(SESSION_TOOL.session, table_arn, run_id)  # type: ignore[arg-type]
    # and, judged against that policy (moto's STS enforces none), the run's own calls are allowed (positive control)
    decisions = [
        evaluate(policy, Request(f"dynamodb:{op}", table_arn, {"dynamodb:LeadingKeys": _leading_keys(op, params)}))
        for op, params in calls
    ]
    assert [op for op, _ in calls] == ["PutItem", "GetItem", "PutItem"]
    assert decisions[:2] == [Decision.ALLOW, Decision.ALLOW]
    # and the neighbour run's item is denied: on AWS this PutItem is AccessDenied (moto let it through)
    assert decisions[2] is Decision.IMPLICIT_DENY
    # and a second client of the same run reuses the session; another run gets its own
    ctx.aws_session("dynamodb")
    assert len(assumed) == 1
    ToolContext(
        SESSION_TOOL, neighbour, {}, engine.clients, _secrets(engine), engine.http, sessions=sessions
    ).aws_session("dynamodb")
    assert [a["RoleSessionName"] for a in assumed] == [run_id, neighbour]
