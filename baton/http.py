"""HTTP for tools, behind an egress allowlist checked before any connection is made."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


class EgressDenied(Exception):
    """The destination is not on the calling tool's egress allowlist."""


class HttpError(Exception):
    """The request could not be completed (connection error, timeout)."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class HttpTransport(Protocol):
    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse: ...


class UrllibTransport:
    """The real network, standard library only (no extra dependency in the Lambda bundle)."""

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        # HttpClient admits only https URLs to allowlisted hosts before a request reaches a transport
        raw = urllib.request.Request(  # noqa: S310
            request.url, data=request.body, headers=request.headers, method=request.method
        )
        try:
            with urllib.request.urlopen(raw, timeout=timeout_seconds) as response:  # noqa: S310 (https checked)
                return HttpResponse(status=response.status, body=response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(status=error.code, body=error.read())
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise HttpError(f"{request.method} {urlsplit(request.url).hostname}: {type(error).__name__}") from None


class HttpClient:
    def __init__(self, allowed_hosts: tuple[str, ...], transport: HttpTransport, timeout_seconds: float = 5.0) -> None:
        self._allowed = frozenset(host.lower() for host in allowed_hosts)
        self._transport = transport
        self._timeout = timeout_seconds

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None
    ) -> HttpResponse:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https":
            raise EgressDenied(f"only https is allowed, not {parts.scheme or 'a relative URL'!r}")
        if parts.username or parts.password or parts.port not in (None, 443):
            raise EgressDenied(f"URL for {host!r} carries credentials or a non-standard port")
        if host not in self._allowed:
            raise EgressDenied(f"host {host!r} is not on the egress allowlist {sorted(self._allowed)}")
        all_headers = {"Accept": "application/json", **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        return self._transport.send(HttpRequest(method, url, all_headers, body), self._timeout)
