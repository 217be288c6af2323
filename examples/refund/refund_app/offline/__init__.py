"""Offline fixture of the refund workflow: seed orders and a fake payment provider with a ledger.

The provider authenticates like an OAuth 2.0 resource server: its token endpoint (POST /oauth/token) issues
short-lived bearer tokens for the client credentials the payment_api_key secret holds (client_credentials grant,
HTTP Basic client authentication), and /v1/refunds accepts only a token it issued, to that client, unexpired.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from baton import clock
from baton.http import HttpRequest, HttpResponse
from baton.local.deployment import OfflineDeployment
from refund_app.endpoints import PAYMENTS_HOST

SEED = Path(__file__).with_name("seed.json")


TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a password)
TOKEN_LIFETIME_SECONDS = 300


class FakePaymentProvider:
    """Stands in for the provider's HTTP API: issues access tokens for its client's credentials, checks the bearer
    token of each refund, honours Idempotency-Key, keeps a ledger.

    `credentials` is the secret's value: {"client_id": ..., "client_secret": ...}. Token requests are counted apart
    (`token_requests`); `requests` counts refund requests, as before tokens existed.
    """

    def __init__(
        self, credentials: str, outages: set[str], token_lifetime_seconds: int = TOKEN_LIFETIME_SECONDS
    ) -> None:
        client = json.loads(credentials)
        self.client_id: str = client["client_id"]
        self._client_secret: str = client["client_secret"]
        self._outages = outages
        self._lifetime = token_lifetime_seconds
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (client id, expiry, epoch seconds)
        self.ledger: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.token_requests = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.url.split("?", 1)[0].endswith(TOKEN_PATH):
            return self._token(request)
        with self._lock:
            self.requests += 1
        if not self.authorized(request.headers.get("Authorization")):
            return _json(401, {"error": "invalid_token"})
        if request.method != "POST" or not request.url.endswith("/v1/refunds"):
            return _json(404, {"error": "no such endpoint"})
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _json(400, {"error": "Idempotency-Key header is required"})
        body = json.loads(request.body or b"{}")
        if body.get("payment_id") in self._outages:
            return _json(503, {"error": "temporarily unavailable"})
        with self._lock:
            if key in self.ledger:
                return _json(200, self.ledger[key])
            refund = {
                "refund_id": f"re_{secrets.token_hex(8)}",
                "payment_id": body["payment_id"],
                "amount_cents": body["amount_cents"],
                "currency": body["currency"],
                "status": "succeeded",
            }
            self.ledger[key] = refund
        return _json(201, refund)

    def authorized(self, authorization: str | None) -> bool:
        """Whether a header carries a bearer token this provider issued to its client, still unexpired."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._lock:
            issued = self._tokens.get(token)
        return issued is not None and issued[0] == self.client_id and clock.epoch() < issued[1]

    def _token(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.token_requests += 1
        form = parse_qs((request.body or b"").decode("ascii", "replace"))
        if request.method != "POST" or form.get("grant_type") != ["client_credentials"]:
            return _json(400, {"error": "unsupported_grant_type"})
        if not self._client_authenticated(request.headers.get("Authorization")):
            return _json(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (self.client_id, clock.epoch() + self._lifetime)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self._lifetime}
        return _json(200, body | ({"scope": form["scope"][0]} if "scope" in form else {}))

    def _client_authenticated(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, client_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(unquote(client_id), self.client_id) and hmac.compare_digest(
            unquote(client_secret), self._client_secret
        )

    def refunds_for(self, payment_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.ledger.values() if r["payment_id"] == payment_id]


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


def prepare(engine: OfflineDeployment) -> FakePaymentProvider:
    seed = json.loads(SEED.read_text())
    today = datetime.now(UTC).date()
    ddb = engine.clients.client("dynamodb")
    for order in seed["orders"]:
        delivered = today - timedelta(days=order.pop("delivered_days_ago"))
        item = {k: {"N": str(v)} if isinstance(v, int) else {"S": v} for k, v in order.items()}
        item["delivered_on"] = {"S": delivered.isoformat()}
        ddb.put_item(TableName=engine.physical_ids["orders"], Item=item)
    provider = FakePaymentProvider(engine.secret_value("payment_api_key"), set(seed["provider_outages"]))
    engine.http.serve(PAYMENTS_HOST, provider)
    return provider
