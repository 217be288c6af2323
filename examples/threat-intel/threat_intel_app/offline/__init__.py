"""Offline fixture of the threat-intel workflow: three fake threat feeds, one per egress host.

Each fake is an in-process function of the request, served by the offline engine for its feed's host alone
(`engine.http.serve`): a feed agent's requests reach its own fake through Baton's egress client, and any other
host is refused before a fake is asked. What each feed knows ships with the app (feeds.json, package data, never
bundled into a Lambda function). A fake answers after a short delay (as a real feed would), so a concurrent stage
is visible in the steps' times; it answers 503 for the scopes listed as its outages (the example inputs
`one-feed-down.json` and `all-feeds-down.json`), or while a test has set it `down`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from baton.http import HttpRequest, HttpResponse
from baton.local.deployment import OfflineDeployment

SEED = Path(__file__).with_name("feeds.json")


class FakeFeed:
    """Stands in for one feed's HTTP API: GET /v1/indicators?scope=...&since_days=..."""

    def __init__(self, host: str, known: dict[str, Any], latency_seconds: float) -> None:
        self.host = host
        self.indicators: list[dict[str, Any]] = known["indicators"]
        self.outages: set[str] = set(known["outages"])
        self.latency_seconds = latency_seconds
        self.down = False  # a test's switch: every request answered 503
        self._lock = threading.Lock()
        self.requests: list[str] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        scope = query.get("scope", [""])[0]
        with self._lock:
            self.requests.append(scope)
        if request.method != "GET" or url.path != "/v1/indicators":
            return _json(404, {"error": "no such endpoint"})
        if self.down or scope in self.outages:
            return _json(503, {"error": "temporarily unavailable"})
        time.sleep(self.latency_seconds)
        return _json(200, {"scope": scope, "indicators": self.indicators})


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


def feeds() -> dict[str, FakeFeed]:
    seed = json.loads(SEED.read_text())
    return {host: FakeFeed(host, known, seed["latency_seconds"]) for host, known in seed["feeds"].items()}


def prepare(engine: OfflineDeployment) -> dict[str, FakeFeed]:
    served = feeds()
    for host, fake in served.items():
        engine.http.serve(host, fake)
    return served
