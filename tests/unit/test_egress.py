"""Egress attacks: redirects, ports, schemes, private addresses and DNS rebinding never get a tool's secrets out.

Redirect attacks run against real loopback servers reached through a LoopbackGrant; address checks use an
injected resolver and an injected dialer, so nothing but 127.0.0.1 is ever connected to.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import baton.http
from baton.egress import EgressDenied, EgressRule, HttpError
from baton.http import (
    HttpClient,
    HttpRequest,
    HttpResponse,
    LoopbackGrant,
    PinnedTransport,
)
from baton.local.http import LocalHttpTransport
from refund_app.models import RefundPaymentArgs
from refund_app.tools import PaymentRejected, refund_payment

API_KEY = "sk_live_must_not_leak"
CREDENTIALS = {
    "Authorization": f"Bearer {API_KEY}",
    "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
    "Cookie": "session=secret",
    "X-Api-Key": API_KEY,
}
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700:4700::1111"
CANNED_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a loopback test looked up {host} in DNS")


# ---------------------------------------------------------------- loopback sites


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes


class Site:
    """A loopback HTTP(S) server standing in for one host: answers by path, records connections and requests."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.connections = 0
        self.received: list[Received] = []
        self.answers: dict[str, tuple[int, dict[str, str]]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {name.lower(): value for name, value in self.headers.items()}
                site.received.append(Received(self.command, self.path, headers, self.rfile.read(length)))
                status, extra = site.answers.get(self.path, (200, {}))
                body = b'{"ok": true}'
                self.send_response(status)
                for name, value in {**extra, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                site.connections += 1
                return True

        self._server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02})
        self._thread.start()

    def redirect(self, path: str, status: int, location: str) -> None:
        self.answers[path] = (status, {"Location": location})

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def start_site() -> Iterator[Callable[..., Site]]:
    started: list[Site] = []

    def start(tls: ssl.SSLContext | None = None) -> Site:
        started.append(Site(tls))
        return started[-1]

    yield start
    for site in started:
        site.stop()


@dataclass(frozen=True)
class Pki:
    ca_pem: str
    server_context: ssl.SSLContext  # serves a certificate for payments.example.com only

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Baton test CA")])
    host_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payments.example.com")])

    def certificate(subject: x509.Name, public_key: Any, ca: bool) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )

    ca = (
        certificate(ca_name, ca_key.public_key(), ca=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        certificate(host_name, key.public_key(), ca=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("payments.example.com")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("pki")
    (folder / "host.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "host.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "host.pem", folder / "host.key")
    return Pki(ca.public_bytes(serialization.Encoding.PEM).decode(), server)


def granted(sites: dict[str, Site], **options: Any) -> PinnedTransport:
    """The real transport, with each named host granted its site's loopback port and DNS forbidden."""
    return PinnedTransport(
        resolver=no_dns, loopback=LoopbackGrant({host: site.port for host, site in sites.items()}), **options
    )


def refund(client: HttpClient, url: str) -> HttpResponse:
    return client.request(
        "POST",
        url,
        headers={**CREDENTIALS, "Idempotency-Key": "refund-ORD-1001"},
        json_body={"payment_id": "pay_1", "amount_cents": 100},
        credential_headers=["X-Api-Key"],
    )


# ---------------------------------------------------------------- redirect attacks (loopback servers)


@pytest.mark.enable_socket
def test_a_redirect_is_handed_back_to_the_tool_not_followed(start_site: Callable[..., Site]) -> None:
    # Given an allowlisted provider answering 302 to another host, and a client with redirects off (the default)
    payments, evil = start_site(), start_site()
    payments.redirect("/v1/refunds", 302, f"http://evil.example.net:{evil.port}/collect")
    transport = granted({"payments.example.com": payments, "evil.example.net": evil})
    client = HttpClient((f"http://payments.example.com:{payments.port}",), transport)
    # When the tool sends its refund
    response = refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    # Then the tool sees the 302 and where it points, and the other host was never contacted
    assert response.status == 302
    assert response.header("location") == f"http://evil.example.net:{evil.port}/collect"
    assert evil.connections == 0


@pytest.mark.attack("ASI02")
@pytest.mark.enable_socket
@pytest.mark.parametrize(
    "location",
    [
        "http://evil.example.net:{evil}/collect",
        "http://127.0.0.1:{evil}/collect",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
    ],
)
def test_redirect_to_unlisted_host_never_receives_the_api_key(start_site: Callable[..., Site], location: str) -> None:
    # Given an allowlisted provider that redirects elsewhere, the target reachable if the client went there
    payments, evil = start_site(), start_site()
    payments.redirect("/v1/refunds", 302, location.format(evil=evil.port))
    transport = granted({"payments.example.com": payments, "evil.example.net": evil})
    client = HttpClient((f"http://payments.example.com:{payments.port}",), transport, follow_redirects=True)
    # When the tool follows redirects / Then the hop is refused before any connection to the target
    with pytest.raises(EgressDenied, match="not on the egress allowlist"):
        refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    assert len(payments.received) == 1
    assert evil.connections == 0


@pytest.mark.enable_socket
def test_redirect_to_another_port_of_an_allowlisted_host_is_refused(start_site: Callable[..., Site]) -> None:
    # Given a provider allowlisted on one port that redirects to another port of the same host
    payments, other = start_site(), start_site()
    payments.redirect("/v1/refunds", 307, f"http://payments.example.com:{other.port}/v1/refunds")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}",),
        granted({"payments.example.com": payments}),
        follow_redirects=True,
    )
    # When the tool follows redirects / Then the other port is refused (the grant would have dialled the site again)
    with pytest.raises(EgressDenied, match="not on the egress allowlist"):
        refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    assert len(payments.received) == 1
    assert other.connections == 0


@pytest.mark.enable_socket
def test_redirect_downgrading_https_to_http_is_refused(start_site: Callable[..., Site], pki: Pki) -> None:
    # Given an https-only provider (entry "payments.example.com") that redirects to plain http on the same host
    payments = start_site(tls=pki.server_context)
    payments.redirect("/v1/refunds", 302, "http://payments.example.com/v1/refunds")
    transport = granted({"payments.example.com": payments}, ssl_context=pki.client_context())
    client = HttpClient(("payments.example.com",), transport, follow_redirects=True)
    # When the tool follows redirects / Then the plain-http hop is refused and nothing more reaches the host
    with pytest.raises(EgressDenied, match=re.escape("http://payments.example.com:80 is not on the egress allowlist")):
        refund(client, "https://payments.example.com/v1/refunds")
    assert payments.connections == 1
    assert payments.received[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.enable_socket
def test_redirect_carrying_userinfo_is_refused(start_site: Callable[..., Site]) -> None:
    # Given a provider that redirects to its own origin with credentials in the URL
    payments = start_site()
    payments.redirect("/v1/refunds", 302, f"http://admin:pw@payments.example.com:{payments.port}/v1/refunds")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}",),
        granted({"payments.example.com": payments}),
        follow_redirects=True,
    )
    # When the tool follows redirects / Then userinfo is refused even on an allowlisted origin
    with pytest.raises(EgressDenied, match="userinfo"):
        refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    assert len(payments.received) == 1


@pytest.mark.enable_socket
def test_redirect_loop_is_refused_after_five_hops(start_site: Callable[..., Site]) -> None:
    # Given a provider whose endpoint redirects to itself forever
    payments = start_site()
    payments.redirect("/loop", 302, "/loop")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}",),
        granted({"payments.example.com": payments}),
        follow_redirects=True,
    )
    # When the tool follows redirects / Then it stops after the first request and five hops
    with pytest.raises(EgressDenied, match="more than 5 redirects"):
        client.request("GET", f"http://payments.example.com:{payments.port}/loop")
    assert len(payments.received) == 6


@pytest.mark.enable_socket
def test_five_redirect_hops_are_followed(start_site: Callable[..., Site]) -> None:
    # Given a chain of exactly five redirects on an allowlisted origin
    payments = start_site()
    for hop in range(5):
        payments.redirect(f"/hop{hop}", 302, f"/hop{hop + 1}")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}",),
        granted({"payments.example.com": payments}),
        follow_redirects=True,
    )
    # When the tool follows redirects / Then it reaches the end of the chain
    response = client.request("GET", f"http://payments.example.com:{payments.port}/hop0")
    assert response.status == 200
    assert payments.received[-1].path == "/hop5"


@pytest.mark.enable_socket
def test_followed_redirect_to_another_allowlisted_host_drops_credentials(start_site: Callable[..., Site]) -> None:
    # Given two allowlisted hosts, the first redirecting (302) to the second
    payments, ledger = start_site(), start_site()
    payments.redirect("/v1/refunds", 302, f"http://ledger.example.com:{ledger.port}/v1/refunds")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}", f"http://ledger.example.com:{ledger.port}"),
        granted({"payments.example.com": payments, "ledger.example.com": ledger}),
        follow_redirects=True,
    )
    # When the tool follows the redirect
    response = refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    # Then the second host gets a GET without body or any credential (named ones included), other headers kept
    assert response.status == 200
    (hop,) = ledger.received
    assert (hop.method, hop.body) == ("GET", b"")
    assert not {name.lower() for name in CREDENTIALS} & set(hop.headers)
    assert hop.headers["idempotency-key"] == "refund-ORD-1001"
    assert payments.received[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.enable_socket
@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_on_the_same_origin_keep_method_body_and_credentials(
    start_site: Callable[..., Site], status: int
) -> None:
    # Given a provider that moves its endpoint with a method-preserving redirect on the same origin
    payments = start_site()
    payments.redirect("/v1/refunds", status, "/v2/refunds")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}",),
        granted({"payments.example.com": payments}),
        follow_redirects=True,
    )
    # When the tool follows it
    refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    # Then the request is repeated as it was, credentials included
    first, second = payments.received
    assert (second.method, second.path, second.body) == ("POST", "/v2/refunds", first.body)
    assert second.headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.enable_socket
@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_to_another_origin_drop_body_and_credentials(start_site: Callable[..., Site], status: int) -> None:
    # Given a provider that sends a method-preserving redirect to another allowlisted host
    payments, ledger = start_site(), start_site()
    payments.redirect("/v1/refunds", status, f"http://ledger.example.com:{ledger.port}/v1/refunds")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}", f"http://ledger.example.com:{ledger.port}"),
        granted({"payments.example.com": payments, "ledger.example.com": ledger}),
        follow_redirects=True,
    )
    # When the tool follows it
    refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    # Then the method stays but neither the body nor any credential crosses to the other origin
    (hop,) = ledger.received
    assert (hop.method, hop.body) == ("POST", b"")
    assert "content-type" not in hop.headers
    assert not {name.lower() for name in CREDENTIALS} & set(hop.headers)


@pytest.mark.enable_socket
def test_303_turns_a_post_into_a_get_without_body(start_site: Callable[..., Site]) -> None:
    # Given a provider answering a POST with 303 See Other on its own origin
    payments = start_site()
    payments.redirect("/v1/refunds", 303, "/v1/refunds/re_1")
    client = HttpClient(
        (f"http://payments.example.com:{payments.port}",),
        granted({"payments.example.com": payments}),
        follow_redirects=True,
    )
    # When the tool follows it
    refund(client, f"http://payments.example.com:{payments.port}/v1/refunds")
    # Then the next request is a GET without body (the refund is not posted twice)
    second = payments.received[1]
    assert (second.method, second.path, second.body) == ("GET", "/v1/refunds/re_1", b"")
    assert "content-type" not in second.headers


@pytest.mark.enable_socket
def test_refund_tool_sends_its_api_key_only_to_the_provider(start_site: Callable[..., Site], pki: Pki) -> None:
    # Given the real refund tool, its real https URL, and a provider (TLS, test CA) redirecting to another host
    payments, evil = start_site(tls=pki.server_context), start_site()
    payments.redirect("/v1/refunds", 302, "https://evil.example.net/v1/refunds")
    transport = granted({"payments.example.com": payments, "evil.example.net": evil}, ssl_context=pki.client_context())

    class RefundContext:
        def http(self) -> HttpClient:
            return HttpClient(("payments.example.com",), transport)

        def secret(self, name: str) -> str:
            return API_KEY

        def access_token(self) -> str:  # the refund tool authenticates with an OAuth access token
            return API_KEY

    args = RefundPaymentArgs(payment_id="pay_1", amount_cents=100, currency="USD", idempotency_key="refund-ORD-1001")
    # When the tool runs / Then the redirect is no refund (the tool refuses it), the key reached the provider
    # over TLS, and nothing reached the other host
    with pytest.raises(PaymentRejected, match="302"):
        refund_payment(args, RefundContext())  # type: ignore[arg-type]
    assert payments.received[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert evil.connections == 0


# ---------------------------------------------------------------- redirect policy in HttpClient (no sockets)


class Scripted:
    """A transport answering from a script keyed by URL (200 otherwise), recording every request."""

    def __init__(self, answers: dict[str, HttpResponse]) -> None:
        self.answers = answers
        self.sent: list[HttpRequest] = []

    def send(self, request: HttpRequest, timeout_seconds: float) -> HttpResponse:
        self.sent.append(request)
        return self.answers.get(request.url, HttpResponse(200, b"{}"))


def moved(location: str, status: int = 302) -> HttpResponse:
    return HttpResponse(status, b"", {"Location": location})


def test_an_allowed_downgrade_to_plain_http_still_drops_credentials() -> None:
    # Given a host declared for both https and http, redirecting from the first to the second
    transport = Scripted({"https://payments.example.com/v1": moved("http://payments.example.com/v1")})
    client = HttpClient(("payments.example.com", "http://payments.example.com"), transport, follow_redirects=True)
    # When the tool follows it
    client.request("GET", "https://payments.example.com/v1", headers=CREDENTIALS)
    # Then the plain-http request carries no credential: a scheme change is an origin change
    assert [r.url for r in transport.sent] == ["https://payments.example.com/v1", "http://payments.example.com/v1"]
    assert "Authorization" not in transport.sent[1].headers
    assert "Cookie" not in transport.sent[1].headers


def test_credentials_dropped_on_a_redirect_never_come_back() -> None:
    # Given a redirect to another allowlisted host that bounces back to the first
    transport = Scripted(
        {
            "https://payments.example.com/v1": moved("https://ledger.example.com/bounce"),
            "https://ledger.example.com/bounce": moved("https://payments.example.com/v2"),
        }
    )
    client = HttpClient(("payments.example.com", "ledger.example.com"), transport, follow_redirects=True)
    # When the tool follows both hops
    client.request("GET", "https://payments.example.com/v1", headers=CREDENTIALS)
    # Then the request back on the first origin still carries no credential
    assert "Authorization" not in transport.sent[2].headers


@pytest.mark.parametrize(
    ("entry", "url", "admitted"),
    [
        ("payments.example.com", "https://payments.example.com/v1", True),
        ("payments.example.com", "https://payments.example.com:443/v1", True),
        ("payments.example.com", "https://payments.example.com:8443/v1", False),
        ("payments.example.com", "http://payments.example.com/v1", False),
        ("payments.example.com:8443", "https://payments.example.com:8443/v1", True),
        ("payments.example.com:8443", "https://payments.example.com/v1", False),
        ("http://payments.example.com", "http://payments.example.com/v1", True),
        ("http://payments.example.com", "http://payments.example.com:8080/v1", False),
        ("http://payments.example.com", "https://payments.example.com/v1", False),
        ("http://payments.example.com:8080", "http://payments.example.com:8080/v1", True),
        ("payments.example.com", "https://user:pw@payments.example.com/v1", False),
        ("payments.example.com", "https://user@payments.example.com/v1", False),
        ("payments.example.com", "https://@payments.example.com/v1", False),
        ("payments.example.com", "https://payments.example.com:99999/v1", False),
        ("payments.example.com", "https://payments.example.com.evil.net/v1", False),
        ("payments.example.com", "ftp://payments.example.com/v1", False),
    ],
)
def test_an_egress_entry_admits_only_its_scheme_host_and_port(entry: str, url: str, admitted: bool) -> None:
    # Given a client allowed one egress entry
    transport = Scripted({})
    client = HttpClient((entry,), transport)
    # When the tool requests the URL / Then it is sent only if the entry admits its exact origin
    if admitted:
        client.request("GET", url)
    else:
        with pytest.raises(EgressDenied):
            client.request("GET", url)
    assert len(transport.sent) == int(admitted)


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("payments.example.com", EgressRule("https", "payments.example.com", 443)),
        ("payments.example.com:8443", EgressRule("https", "payments.example.com", 8443)),
        ("https://payments.example.com", EgressRule("https", "payments.example.com", 443)),
        ("http://payments.example.com", EgressRule("http", "payments.example.com", 80)),
        ("http://payments.example.com:8080", EgressRule("http", "payments.example.com", 8080)),
    ],
)
def test_egress_entries_parse_as_the_catalog_declares(entry: str, rule: EgressRule) -> None:
    # Given an entry the catalog accepts / When it is parsed / Then it names one origin
    assert EgressRule.parse(entry) == rule


@pytest.mark.parametrize(
    "entry",
    ["ftp://payments.example.com", "payments.example.com:0", "payments.example.com:70000", "user@host", "host/path"],
)
def test_malformed_egress_entries_are_rejected(entry: str) -> None:
    # Given an entry outside the catalog's grammar or port range / When parsed / Then it is rejected
    with pytest.raises(ValueError, match="egress entry"):
        EgressRule.parse(entry)


def test_a_caller_chosen_host_header_is_refused() -> None:
    # Given an allowlisted URL and a Host header naming another site behind the same address (domain fronting)
    transport = Scripted({})
    client = HttpClient(("cdn.example.com",), transport)
    # When the tool sends it / Then it is refused before anything is sent
    with pytest.raises(EgressDenied, match="Host header"):
        client.request("GET", "https://cdn.example.com/", headers={"host": "evil.example.net"})
    assert transport.sent == []


def test_local_fakes_hand_redirects_back_and_the_client_rechecks_them() -> None:
    # Given offline fakes where the allowlisted provider redirects to an unlisted host
    local = LocalHttpTransport()
    evil_calls: list[HttpRequest] = []
    local.serve("payments.example.com", lambda request: moved("https://evil.example.net/collect"))

    def evil(request: HttpRequest) -> HttpResponse:
        evil_calls.append(request)
        return HttpResponse(200, b"{}")

    local.serve("evil.example.net", evil)
    # When a client with redirects off sends a request / Then the fake's 302 comes back as it is
    response = HttpClient(("payments.example.com",), local).request("GET", "https://payments.example.com/v1")
    assert (response.status, response.header("Location")) == (302, "https://evil.example.net/collect")
    # When a client with redirects on sends it / Then the hop is refused and the other fake never runs
    with pytest.raises(EgressDenied):
        HttpClient(("payments.example.com",), local, follow_redirects=True).request(
            "GET", "https://payments.example.com/v1", headers=CREDENTIALS
        )
    assert evil_calls == []


# ---------------------------------------------------------------- addresses, rebinding, errors (injected dialer)


class CannedDialer:
    """Stands in for the network: records each address dialled and answers with canned bytes over a socketpair."""

    def __init__(self, answer: bytes, unreachable: frozenset[str] = frozenset()) -> None:
        self.answer = answer
        self.unreachable = unreachable
        self.dialled: list[tuple[str, int]] = []
        self.peers: list[socket.socket] = []

    def __call__(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.dialled.append(address)
        if address[0] in self.unreachable:
            raise OSError("network unreachable")
        ours, theirs = socket.socketpair()
        theirs.sendall(self.answer)
        self.peers.append(theirs)
        ours.settimeout(timeout)
        return ours


@pytest.fixture
def canned() -> Iterator[Callable[..., CannedDialer]]:
    made: list[CannedDialer] = []

    def make(answer: bytes = CANNED_OK, unreachable: frozenset[str] = frozenset()) -> CannedDialer:
        made.append(CannedDialer(answer, unreachable))
        return made[-1]

    yield make
    for dialer in made:
        for peer in dialer.peers:
            peer.close()


def resolving_to(*addresses: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.0.0.1",),
        ("172.16.0.1",),
        ("192.168.1.1",),
        ("127.0.0.1",),  # loopback without a grant
        ("0.0.0.0",),  # noqa: S104 (an answer to refuse, not an address to bind)
        ("169.254.169.254",),  # instance metadata (IMDS)
        ("169.254.1.1",),
        ("100.64.0.1",),  # shared address space (carrier-grade NAT)
        ("224.0.0.1",),
        ("240.0.0.1",),
        ("255.255.255.255",),
        ("::1",),
        ("::",),
        ("fe80::1",),
        ("fc00::1",),
        ("fd00:ec2::254",),  # instance metadata over IPv6
        ("ff02::1",),
        ("::ffff:127.0.0.1",),  # IPv4-mapped
        ("::ffff:169.254.169.254",),
        ("::127.0.0.1",),  # IPv4-compatible
        ("2002:7f00:1::1",),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1",),  # 6to4 of 169.254.169.254
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2",),  # Teredo
        ("64:ff9b::a00:1",),  # NAT64 of 10.0.0.1
        (PUBLIC_V4, "10.0.0.1"),  # one private answer among public ones is enough
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused_before_dialling(
    canned: Callable[..., CannedDialer], addresses: tuple[str, ...]
) -> None:
    # Given an allowlisted name whose DNS answers include an address that is not globally routable
    dial = canned()
    transport = PinnedTransport(resolver=resolving_to(*addresses), dial=dial)
    # When a request is sent / Then it is refused as policy, and nothing is dialled
    with pytest.raises(EgressDenied, match="not globally routable"):
        transport.send(HttpRequest("GET", "https://api.example.com/"), 1.0)
    assert dial.dialled == []


def test_dns_rebinding_cannot_swap_the_checked_address(canned: Callable[..., CannedDialer]) -> None:
    # Given a name that answers a public address first and 127.0.0.1 on every later lookup
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [PUBLIC_V4] if len(lookups) == 1 else ["127.0.0.1"]

    dial = canned()
    transport = PinnedTransport(resolver=rebinding, dial=dial)
    # When a request is sent
    response = transport.send(HttpRequest("GET", "http://api.example.com/v1"), 1.0)
    # Then the name was looked up once and the socket went to the address that was checked
    assert response.status == 200
    assert lookups == ["api.example.com"]
    assert dial.dialled == [(PUBLIC_V4, 80)]
    # And the next request, which sees the rebound answer, is refused before dialling
    with pytest.raises(EgressDenied):
        transport.send(HttpRequest("GET", "http://api.example.com/v1"), 1.0)
    assert dial.dialled == [(PUBLIC_V4, 80)]


def test_only_checked_addresses_are_fallbacks(canned: Callable[..., CannedDialer]) -> None:
    # Given a name with a public IPv6 and a public IPv4 address, the IPv6 one unreachable
    dial = canned(unreachable=frozenset({PUBLIC_V6}))
    transport = PinnedTransport(resolver=resolving_to(PUBLIC_V6, PUBLIC_V4), dial=dial)
    # When a request is sent / Then the transport falls back to the next checked address, and to nothing else
    assert transport.send(HttpRequest("GET", "http://api.example.com/"), 1.0).status == 200
    assert dial.dialled == [(PUBLIC_V6, 80), (PUBLIC_V4, 80)]


def test_a_loopback_grant_covers_only_the_hosts_it_names(canned: Callable[..., CannedDialer]) -> None:
    # Given a grant for one host, and another name that resolves to 127.0.0.1
    dial = canned()
    transport = PinnedTransport(
        resolver=resolving_to("127.0.0.1"), dial=dial, loopback=LoopbackGrant({"payments.example.com": 54321})
    )
    # When each is requested / Then the granted one reaches its loopback port and the other is refused
    assert transport.send(HttpRequest("GET", "http://payments.example.com/"), 1.0).status == 200
    assert dial.dialled == [("127.0.0.1", 54321)]
    with pytest.raises(EgressDenied, match="not globally routable"):
        transport.send(HttpRequest("GET", "http://evil.example.net/"), 1.0)


def test_no_environment_variable_can_grant_loopback() -> None:
    # Given the egress module / When its names are listed / Then none of them can read the environment
    assert not {"os", "environ", "getenv"} & set(vars(baton.http))


def test_the_transport_never_follows_a_redirect_itself(canned: Callable[..., CannedDialer]) -> None:
    # Given a public host answering 302 to another host
    dial = canned(b"HTTP/1.1 302 Found\r\nLocation: https://evil.example.net/\r\nContent-Length: 0\r\n\r\n")
    transport = PinnedTransport(resolver=resolving_to(PUBLIC_V4), dial=dial)
    # When the transport sends a request / Then the 302 comes back as it is, after exactly one connection
    response = transport.send(HttpRequest("GET", "http://api.example.com/"), 1.0)
    assert (response.status, response.header("Location")) == (302, "https://evil.example.net/")
    assert dial.dialled == [(PUBLIC_V4, 80)]


def test_an_oversized_response_body_is_an_http_error(canned: Callable[..., CannedDialer]) -> None:
    # Given a host answering more bytes than the transport accepts
    body = b"x" * 2048
    dial = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n" + body)
    transport = PinnedTransport(resolver=resolving_to(PUBLIC_V4), dial=dial, max_body_bytes=1024)
    # When a request is sent / Then it fails as an HttpError naming the limit
    with pytest.raises(HttpError, match="larger than 1024 bytes"):
        transport.send(HttpRequest("GET", "http://api.example.com/"), 1.0)


def test_connection_errors_name_only_method_and_host() -> None:
    # Given a public host that refuses connections
    def refuse(address: tuple[str, int], timeout: float) -> socket.socket:
        raise ConnectionRefusedError(f"refused {address}")

    transport = PinnedTransport(resolver=resolving_to(PUBLIC_V4), dial=refuse)
    request = HttpRequest("POST", "https://api.example.com/v1?token=abc", CREDENTIALS, b'{"card": "4242"}')
    # When a request is sent / Then the error is an HttpError whose message holds no header, query or body
    with pytest.raises(HttpError) as raised:
        transport.send(request, 1.0)
    assert str(raised.value) == "POST api.example.com: ConnectionRefusedError"


@pytest.mark.enable_socket
def test_a_silent_server_times_out_as_an_http_error() -> None:
    # Given a loopback listener that accepts connections but never answers
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        transport = PinnedTransport(
            resolver=no_dns, loopback=LoopbackGrant({"slow.example.com": listener.getsockname()[1]})
        )
        started = time.monotonic()
        # When a request is sent with a short timeout / Then it fails as an HttpError within about that time
        with pytest.raises(HttpError, match=re.escape("GET slow.example.com: TimeoutError")):
            transport.send(HttpRequest("GET", "http://slow.example.com/"), 0.2)
    assert time.monotonic() - started < 2


@pytest.mark.enable_socket
def test_tls_to_a_pinned_address_verifies_the_certificate_for_the_hostname(
    start_site: Callable[..., Site], pki: Pki
) -> None:
    # Given a TLS site with a certificate for payments.example.com, granted under two names
    site = start_site(tls=pki.server_context)
    grant = {"payments.example.com": site, "ledger.example.com": site}
    trusting, default = granted(grant, ssl_context=pki.client_context()), granted(grant)
    # When the certificate's own name is requested through a context trusting the test CA / Then it succeeds
    assert trusting.send(HttpRequest("GET", "https://payments.example.com/"), 2.0).status == 200
    # When another name reaches the same address / Then verification by hostname fails
    with pytest.raises(HttpError, match=re.escape("GET ledger.example.com")):
        trusting.send(HttpRequest("GET", "https://ledger.example.com/"), 2.0)
    # When the default context (system CAs only) is used / Then the test CA is not trusted
    with pytest.raises(HttpError, match=re.escape("GET payments.example.com")):
        default.send(HttpRequest("GET", "https://payments.example.com/"), 2.0)
    assert len(site.received) == 1
