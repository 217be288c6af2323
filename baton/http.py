"""HTTP for tools: every request and every redirect hop must match the tool's egress allowlist.

HttpClient enforces the allowlist (scheme, host, port) on the first URL and on each redirect it chooses to
follow; PinnedTransport is the real network, which also refuses addresses that are not globally routable and
dials exactly the address it checked.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any, Protocol
from urllib.parse import SplitResult, urldefrag, urljoin, urlsplit

from baton.egress import EgressDenied, EgressRule, HttpError

MAX_REDIRECTS = 5
MAX_BODY_BYTES = 10 * 1024 * 1024
# dropped whenever a redirect leaves the origin they were meant for; callers may name more
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-type", "content-length"})
_READ_CHUNK_BYTES = 64 * 1024


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
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name (a 3xx's Location, for instance)."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class HttpTransport(Protocol):
    """Sends one request and returns its answer as it is: a transport never follows a redirect."""

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse: ...


class HttpClient:
    """A tool's HTTP client, limited to the origins its egress entries declare.

    Redirects are returned to the tool (status and Location visible) unless follow_redirects is on. Then at
    most MAX_REDIRECTS hops are followed (one more is EgressDenied), each re-checked against the allowlist:
    301/302/303 continue as GET without a body (HEAD stays HEAD); 307/308 keep method and body on the same
    origin, and keep the method but drop the body on another origin. Credential headers (CREDENTIAL_HEADERS
    plus those the caller names) are dropped as soon as a hop changes scheme, host or port, and stay dropped.
    """

    def __init__(
        self,
        egress: tuple[str, ...],
        transport: HttpTransport,
        timeout_seconds: float = 5.0,
        follow_redirects: bool = False,
    ) -> None:
        self._rules = frozenset(EgressRule.parse(entry) for entry in egress)
        self._transport = transport
        self._timeout = timeout_seconds
        self._follow_redirects = follow_redirects

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        credential_headers: Collection[str] = (),
        content: bytes | None = None,
    ) -> HttpResponse:
        """Send a request; `credential_headers` names headers beyond CREDENTIAL_HEADERS that carry secrets.

        The body is `json_body` serialized, or `content` as it is (its Content-Type is the caller's to set).
        """
        all_headers = {"Accept": "application/json", **(headers or {})}
        # a Host of the tool's choosing would reach another site behind the allowlisted address (domain fronting)
        if any(name.lower() == "host" for name in all_headers):
            raise EgressDenied("the Host header comes from the URL, never from the caller")
        body = content
        if json_body is not None:
            if content is not None:
                raise ValueError("a request has one body: json_body or content, not both")
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        self._admit(url)
        current = HttpRequest(method, url, all_headers, body)
        credentials = CREDENTIAL_HEADERS | {name.lower() for name in credential_headers}
        hops = 0
        while True:
            response = self._transport.send(current, self._timeout)
            location = response.header("Location")
            if not self._follow_redirects or response.status not in _REDIRECT_STATUSES or not location:
                return response
            if hops == MAX_REDIRECTS:
                raise EgressDenied(f"{method} {EgressRule.of_url(url).host}: more than {MAX_REDIRECTS} redirects")
            hops += 1
            current = self._redirected(current, response.status, location, credentials)

    def _admit(self, url: str) -> EgressRule:
        rule = EgressRule.of_url(url)
        if rule not in self._rules:
            allowed = sorted(str(allowed) for allowed in self._rules)
            raise EgressDenied(f"{rule} is not on the egress allowlist {allowed}")
        return rule

    def _redirected(
        self, previous: HttpRequest, status: int, location: str, credentials: frozenset[str]
    ) -> HttpRequest:
        url = urldefrag(urljoin(previous.url, location)).url
        same_origin = self._admit(url) == EgressRule.of_url(previous.url)
        method, body = previous.method, previous.body
        if status in (301, 302, 303) and method != "HEAD":
            method, body = "GET", None
        elif not same_origin:
            body = None
        dropped = set(_BODY_HEADERS) if body is None else set()
        if not same_origin:
            dropped |= credentials
        headers = {name: value for name, value in previous.headers.items() if name.lower() not in dropped}
        return HttpRequest(method, url, headers, body)


Resolver = Callable[[str, int], Sequence[str]]
Dialer = Callable[[tuple[str, int], float], socket.socket]

_INSTANCE_METADATA = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})
_SHARED_ADDRESS_SPACE = ip_network("100.64.0.0/10")
_NAT64 = ip_network("64:ff9b::/96")


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, in its order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    """Whether an address is globally routable, judged also by the IPv4 address an IPv6 form embeds."""
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return _is_public(ip)


def _is_public(ip: IPv4Address | IPv6Address) -> bool:
    if ip in _INSTANCE_METADATA or ip in _SHARED_ADDRESS_SPACE:
        return False
    if isinstance(ip, IPv6Address):
        nat64 = IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        embedded = (ip.ipv4_mapped, ip.sixtofour, nat64, *(ip.teredo or ()))
        if not all(_is_public(v4) for v4 in embedded if v4 is not None):
            return False
    # is_global alone admits multicast, and what it covers shifts between Python versions
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


class LoopbackGrant:
    """Lets the named hosts reach test doubles on 127.0.0.1, each on its own port.

    A granted host is never looked up: it resolves to 127.0.0.1 and is dialled on its granted port whatever
    the URL's port (doubles listen on ephemeral ports while tools keep their real URLs). Only code can grant
    this; no environment variable or catalog entry does.
    """

    def __init__(self, ports: Mapping[str, int]) -> None:
        if not all(0 < port < 65536 for port in ports.values()):
            raise ValueError("a loopback grant needs ports in 1-65535")
        self._ports = {host.lower(): port for host, port in ports.items()}

    def port_for(self, host: str) -> int | None:
        return self._ports.get(host.lower())


class _PinnedConnection(http.client.HTTPConnection):
    """Dials checked addresses only: connecting by hostname would resolve it again, which rebinding could swap."""

    def __init__(self, rule: EgressRule, addresses: Sequence[str], port: int, dial: Dialer, timeout: float) -> None:
        # host and port of the URL make the Host header; the socket goes to a checked address
        super().__init__(rule.host, rule.port, timeout=timeout)
        self._addresses = addresses
        self._dial_port = port
        self._dial = dial
        self._dial_timeout = timeout

    def connect(self) -> None:
        self.sock = self._dial_checked()

    def _dial_checked(self) -> socket.socket:
        # every address was checked; later ones are fallbacks (an IPv6 answer where only IPv4 routes)
        *fallbacks, last = self._addresses
        for address in fallbacks:
            with contextlib.suppress(OSError):
                return self._dial((address, self._dial_port), self._dial_timeout)
        return self._dial((last, self._dial_port), self._dial_timeout)


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def __init__(
        self,
        rule: EgressRule,
        addresses: Sequence[str],
        port: int,
        dial: Dialer,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(rule, addresses, port, dial, timeout)
        self._context = context

    def connect(self) -> None:
        # SNI and certificate verification use the hostname, not the address dialled
        self.sock = self._context.wrap_socket(self._dial_checked(), server_hostname=self.host)


class PinnedTransport:
    """The real network. Never follows redirects, and dials only addresses it has checked.

    The hostname is resolved once; if any answer is not globally routable (private, loopback, link-local,
    shared, reserved, multicast, their IPv6 forms, the instance-metadata service) the request is refused, and
    otherwise the socket goes to a checked address, so a second lookup cannot rebind it. The timeout bounds each
    socket operation and the body read as a whole; bodies over max_body_bytes are an HttpError.
    """

    def __init__(
        self,
        *,
        resolver: Resolver = resolve_addresses,
        dial: Dialer = socket.create_connection,
        loopback: LoopbackGrant | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._resolve = resolver
        self._dial = dial
        self._loopback = loopback
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_body_bytes = max_body_bytes

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        deadline = time.monotonic() + timeout_seconds
        rule = EgressRule.of_url(request.url)
        what = f"{request.method} {rule.host}"
        try:
            addresses, port = self._checked_destination(rule)
            connection = self._connection(rule, addresses, port, timeout_seconds)
            try:
                connection.request(
                    request.method, _request_target(urlsplit(request.url)), request.body, request.headers
                )
                response = connection.getresponse()
                body = self._read_body(response, deadline, what)
                headers: dict[str, str] = {}
                for name, value in response.getheaders():
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value
            finally:
                connection.close()
        except (OSError, http.client.HTTPException, ValueError) as error:
            # the error's own text may quote the request; the type is enough to act on
            raise HttpError(f"{what}: {type(error).__name__}") from None
        return HttpResponse(response.status, body, headers)

    def _checked_destination(self, rule: EgressRule) -> tuple[Sequence[str], int]:
        granted_port = self._loopback.port_for(rule.host) if self._loopback else None
        if granted_port is not None:
            return ["127.0.0.1"], granted_port
        addresses = self._resolve(rule.host, rule.port)
        if not addresses:
            raise OSError(f"{rule.host} resolved to no address")
        refused = [address for address in addresses if not is_public_address(address)]
        if refused:
            raise EgressDenied(f"{rule.host} resolves to addresses that are not globally routable: {refused}")
        return addresses, rule.port

    def _connection(self, rule: EgressRule, addresses: Sequence[str], port: int, timeout: float) -> _PinnedConnection:
        if rule.scheme == "https":
            return _PinnedTLSConnection(rule, addresses, port, self._dial, timeout, self._ssl_context)
        return _PinnedConnection(rule, addresses, port, self._dial, timeout)

    def _read_body(self, response: http.client.HTTPResponse, deadline: float, what: str) -> bytes:
        body = bytearray()
        while chunk := response.read1(_READ_CHUNK_BYTES):
            body += chunk
            if len(body) > self._max_body_bytes:
                raise HttpError(f"{what}: response body larger than {self._max_body_bytes} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError
        return bytes(body)


def _request_target(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
