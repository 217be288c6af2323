"""The offline API bridge of the federated pattern: a peer deployment's workflow API, authorizing as AWS would.

On AWS, a peer tool's request is refused by STS (the cross-account role's trust policy: the declared principals,
the sts:ExternalId condition) or by API Gateway (SigV4 authentication, the API's resource policy), and the API
function authorizes by the caller's principal. moto's STS enforces no trust policy, external id or session policy
(AssumeRole always succeeds), and moto's API Gateway invokes nothing, so offline the bridge does it on the peer's
side, for each request:

1. the SigV4 signature: the signing key must be one moto's STS issued to a function of this engine (the bridge
   learns each AssumeRole, its parameters and the credentials it returned, from the engine's call hook), the
   session token must be that session's, the date within 5 minutes, and the signature recomputed with botocore's
   signer from that key's secret must match (a changed body, path or signed header does not): else 403;
2. the trust: the assumed role must be a workflow's declared cross-account role (`WorkflowSpec.trusted_peers`), the
   function that assumed it must run as one of that trust's principals, with that trust's external id (what
   baton.iam.peer_trust_policy turns into the role's trust policy on AWS): else 403;
3. the route: only that workflow's start and its runs (the API's resource policy): else 403;

then it hands the request to the API's own handler (baton.api.handle_request) as API Gateway would, the caller the
assumed-role session, so the API authorizes by that principal (a run is visible to the principal that started it).

It listens on 127.0.0.1 over TLS with a certificate of its own authority (the consuming tool's requests go through
the real egress transport, granted this host alone by `LocalHttpTransport.serve_loopback`); where sockets are not
allowed (a test that blocks them) it answers in-process instead, with the same checks (`transport` says which).
"""

from __future__ import annotations

import datetime
import hmac
import json
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from baton import keys
from baton.catalog import PeerTrust
from baton.federation import SERVICE
from baton.http import HttpRequest, HttpResponse
from baton.local.engine import AwsCallDetail, LocalEngine

MAX_SKEW_SECONDS = 300
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_START = re.compile(r"^/workflows/(?P<name>[a-z][a-z0-9-]{0,39})/runs$")
_RUN = re.compile(r"^/runs/(?P<run_id>[^/]{1,200})$")


@dataclass(frozen=True)
class IssuedSession:
    """What moto's STS issued to one function: who asked (its principal), for which role, with which external id."""

    caller: str | None
    role_arn: str
    external_id: str | None
    session_name: str
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    status: int
    reason: str


class PeerBridge:
    """Serves the engine's trusted workflows (those declaring `trusted_peers`) as the peer's API at `url`."""

    def __init__(
        self,
        engine: LocalEngine,
        url: str,
        account: str,
        principals: dict[str, str],
        *,
        region: str = "us-east-1",
        loopback: bool = True,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.stage = parts.path.rstrip("/")
        self.account = account
        self.region = region
        self._engine = engine
        # the principal each offline function runs as (by function name), as the consuming deployment declares it
        self.principals = dict(principals)
        self.trusts: dict[str, tuple[str, PeerTrust]] = {
            f"arn:aws:iam::{account}:role/{trust.role_name}": (workflow.name, trust)
            for workflow in engine.catalog.workflows.values()
            for trust in workflow.trusted_peers
        }
        self.sessions: dict[str, IssuedSession] = {}
        self.received: list[Received] = []
        # test knobs: answers held this long, or rewritten ((method, path, status, body) -> body): a peer's garbage
        self.delay_seconds = 0.0
        self.rewrite: Callable[[str, str, int, bytes], bytes] | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        engine.add_call_hook(self._observe)
        engine.on_exit(self.stop)
        self.transport = "in-process"
        if loopback and not _sockets_blocked():
            try:
                self._serve_loopback()
            except (OSError, RuntimeError):  # sockets blocked here (pytest-socket): answer in-process instead
                self._server = None
        if self._server is None:
            engine.http.serve(self.host, self._in_process)

    # ------------------------------------------------------------ what STS issued

    def _observe(self, call: AwsCallDetail) -> None:
        if call.service != "sts" or call.operation != "AssumeRole":
            return
        credentials = call.response.get("Credentials", {})
        self.record(self.principals.get(call.function), call.params, credentials)

    def record(self, caller: str | None, params: dict[str, Any], credentials: dict[str, Any]) -> None:
        """Remember a session moto's STS issued: `caller` asked for it with AssumeRole `params`."""
        with self._lock:
            self.sessions[credentials["AccessKeyId"]] = IssuedSession(
                caller=caller,
                role_arn=str(params.get("RoleArn", "")),
                external_id=params.get("ExternalId"),
                session_name=str(params.get("RoleSessionName", "")),
                secret_access_key=credentials["SecretAccessKey"],
                session_token=credentials["SessionToken"],
            )

    # ------------------------------------------------------------ one request

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """The peer API's answer to one request (status, body), after the checks AWS would make."""
        path = urlsplit(target).path
        if self.delay_seconds:
            self._stopped.wait(self.delay_seconds)
        if self._stopped.is_set():  # the engine is going away: nothing reaches its API any more
            return 503, json.dumps({"message": "Service Unavailable"}).encode()
        status, payload, reason = self._answer(method, target, {k.lower(): v for k, v in headers.items()}, body)
        with self._lock:
            self.received.append(Received(method, path, status, reason))
        if self.rewrite is not None and status in (200, 202):
            return status, self.rewrite(method, path, status, payload)
        return status, payload

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        path = urlsplit(target).path
        if not path.startswith(self.stage + "/"):
            return _refusal(404, "no such stage")
        route = path.removeprefix(self.stage)
        refused = self._authenticate(method, target, headers, body)
        if isinstance(refused, str):
            return _refusal(403, refused)
        session = refused
        found = self.trusts.get(session.role_arn)
        if found is None:
            return _refusal(403, "the assumed role is no cross-account role of this deployment")
        workflow, trust = found
        if session.caller not in trust.principals:
            return _refusal(403, "the role's trust policy does not admit the caller")
        if session.external_id is None or not hmac.compare_digest(session.external_id, trust.external_id):
            return _refusal(403, "the role's trust policy requires another external id")
        start, run = _START.fullmatch(route), _RUN.fullmatch(route)
        if start is not None and method == "POST":
            event: dict[str, Any] = {
                "resource": "/workflows/{name}/runs",
                "pathParameters": {"name": start["name"]},
            }
            target_workflow = start["name"]
        elif run is not None and method == "GET":
            event = {"resource": "/runs/{run_id}", "pathParameters": {"run_id": run["run_id"]}}
            try:
                target_workflow = keys.workflow_of(run["run_id"])
            except keys.InvalidRunId:
                return _refusal(400, "no run id")
        else:
            return _refusal(403, "no such route for this caller")
        if target_workflow != workflow:  # the API's resource policy: this role may reach this workflow only
            return _refusal(403, "the caller may not reach this workflow")
        caller = f"arn:aws:sts::{self.account}:assumed-role/{trust.role_name}/{session.session_name}"
        event |= {
            "httpMethod": method,
            "headers": {k: v for k, v in headers.items() if k in ("idempotency-key", "content-type")},
            "body": body.decode() if body else None,
            "requestContext": {"requestId": "peer-bridge", "identity": {"userArn": caller}},
        }
        from baton.api import handle_request

        engine = self._engine
        response = handle_request(event, engine.api_workflows, engine.starter, engine.store, engine.desk)
        return int(response["statusCode"]), str(response["body"]).encode(), "served"

    def _authenticate(self, method: str, target: str, headers: dict[str, str], body: bytes) -> IssuedSession | str:
        """The session whose key signed this request, or why the signature does not hold."""
        match = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if match is None:
            return "the request is not signed with SigV4"
        with self._lock:
            session = self.sessions.get(match["key"])
        if session is None:
            return "the signing key is not one STS issued"
        if match["service"] != SERVICE or match["region"] != self.region:
            return "the signature's scope is not this API's"
        if not hmac.compare_digest(headers.get("x-amz-security-token", ""), session.session_token):
            return "the session token is not the signing key's"
        stamp = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return "the request carries no valid X-Amz-Date"
        if abs(time.time() - signed_at.timestamp()) > MAX_SKEW_SECONDS or stamp[:8] != match["date"]:
            return "the signature's date is not current"
        signed = match["signed"].split(";")
        if "host" not in signed:
            return "the signature does not cover the Host header"
        missing = [name for name in signed if name not in headers]
        if missing:
            return "a signed header is missing"
        request = AWSRequest(
            method=method,
            url=f"https://{headers['host']}{target}",
            data=body,
            headers={name: headers[name] for name in signed},
        )
        request.context["timestamp"] = stamp
        signer = SigV4Auth(
            Credentials(match["key"], session.secret_access_key, session.session_token), SERVICE, self.region
        )
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected, match["signature"]):
            return "the signature does not match the request"
        return session

    # ------------------------------------------------------------ serving

    def _in_process(self, request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        headers = {"host": parts.netloc, **{k.lower(): v for k, v in request.headers.items()}}
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        status, body = self.answer(request.method, target, headers, request.body or b"")
        return HttpResponse(status, body, {"Content-Type": "application/json"})

    def _serve_loopback(self) -> None:
        certificate, key = _self_signed(self.host)
        folder = Path(tempfile.mkdtemp(prefix="baton-peer-"))
        (folder / "cert.pem").write_bytes(certificate)
        (folder / "key.pem").write_bytes(key)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, payload = bridge.answer(self.command, self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        client_context = ssl.create_default_context(cadata=certificate.decode())
        self._engine.http.serve_loopback(self.host, server.server_address[1], ssl_context=client_context)
        self.transport = "loopback-tls"

    def stop(self) -> None:
        """Stop serving (call it before the engine exits): a request still held answers 503, touching nothing."""
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _sockets_blocked() -> bool:
    """Whether a test blocked sockets (pytest-socket swaps socket.socket for its guard): answer in-process then."""
    import socket

    return getattr(socket.socket, "__name__", "") == "GuardedSocket"


def _refusal(status: int, reason: str) -> tuple[int, bytes, str]:
    # the caller learns that it was refused, as from API Gateway; the bridge's log keeps why
    message = "Forbidden" if status == 403 else reason
    return status, json.dumps({"message": message}).encode(), reason


def _self_signed(host: str) -> tuple[bytes, bytes]:
    """A certificate for `host` alone, signed by its own key (the client trusts exactly it), valid one day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
