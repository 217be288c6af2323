"""Offline HTTP: requests go to in-process fakes by hostname; nothing leaves the machine.

A fake is a function of the request. A host may instead be served by a real server a test started on 127.0.0.1
(an MCP server, say): `serve_loopback` sends that host's requests through the real egress transport
(PinnedTransport) with a LoopbackGrant for it alone, so the real socket, HTTP and address-check code runs. This
object is the only place the offline engine grants loopback; no environment variable or catalog entry can.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from baton.egress import HttpError
from baton.http import HttpRequest, HttpResponse, HttpTransport, LoopbackGrant, PinnedTransport

FakeService = Callable[[HttpRequest], HttpResponse]


class LocalHttpTransport:
    """Routes each request to the fake serving its hostname and returns the fake's answer as it is.

    A 3xx goes back to HttpClient like any other answer: following it (after re-checking the allowlist) is the
    client's decision, so fakes get the same redirect policy as the real network.
    """

    def __init__(self) -> None:
        self._services: dict[str, FakeService] = {}
        self._loopback: dict[str, HttpTransport] = {}
        self._lock = threading.Lock()

    def serve(self, host: str, service: FakeService) -> None:
        with self._lock:
            self._loopback.pop(host.lower(), None)
            self._services[host.lower()] = service

    def serve_loopback(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        """Answer `host` from the server listening on 127.0.0.1:`port` (started by the test), over real sockets;
        `ssl_context`: what an https URL's certificate is verified against (a test's own authority), else the
        system's."""
        transport = PinnedTransport(
            resolver=_never_resolve, loopback=LoopbackGrant({host: port}), ssl_context=ssl_context
        )
        with self._lock:
            self._services.pop(host.lower(), None)
            self._loopback[host.lower()] = transport

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        host = (urlsplit(request.url).hostname or "").lower()
        with self._lock:
            service = self._services.get(host)
            loopback = self._loopback.get(host)
        if loopback is not None:
            return loopback.send(request, timeout_seconds)
        if service is None:
            raise HttpError(f"{request.method} {host}: no offline service answers for this host")
        return service(request)


def _never_resolve(host: str, port: int) -> Sequence[str]:
    # a granted host is never looked up; any other reaching this transport is a bug, not a lookup to make
    raise HttpError(f"{host}: the offline engine looks up no host")
