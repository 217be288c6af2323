"""Offline HTTP: requests go to in-process fakes by hostname; nothing ever touches the network."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from baton.http import HttpError, HttpRequest, HttpResponse

FakeService = Callable[[HttpRequest], HttpResponse]


class LocalHttpTransport:
    """Routes each request to the fake serving its hostname and returns the fake's answer as it is.

    A 3xx goes back to HttpClient like any other answer: following it (after re-checking the allowlist) is the
    client's decision, so fakes get the same redirect policy as the real network.
    """

    def __init__(self) -> None:
        self._services: dict[str, FakeService] = {}
        self._lock = threading.Lock()

    def serve(self, host: str, service: FakeService) -> None:
        with self._lock:
            self._services[host.lower()] = service

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        host = (urlsplit(request.url).hostname or "").lower()
        with self._lock:
            service = self._services.get(host)
        if service is None:
            raise HttpError(f"{request.method} {host}: no offline service answers for this host")
        return service(request)
