"""Offline fixture of the refund workflow: seed orders and a fake payment provider with a ledger."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from baton.http import HttpRequest, HttpResponse
from baton.local.deployment import OfflineDeployment
from refund_app.tools import PAYMENTS_HOST

SEED = Path(__file__).with_name("seed.json")


class FakePaymentProvider:
    """Stands in for the provider's HTTP API: checks the API key, honours Idempotency-Key, keeps a ledger."""

    def __init__(self, api_key: str, outages: set[str]) -> None:
        self._api_key = api_key
        self._outages = outages
        self._lock = threading.Lock()
        self.ledger: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {self._api_key}":
            return _json(401, {"error": "invalid API key"})
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
