"""What the adversarial suite runs on: the offline engine with AWS's IAM judging agents' calls, an egress double on
the loopback interface, the suite's model doubles, and one deployment open at a time (the app, or its control).

- `IamGuard`: every AWS call an agent's function makes is judged, before it is made, against the role baton.iam
  derives for that agent (rendered with the offline deployment's ARNs by baton.permissions, judged by
  baton.iam_eval), as AWS would: a call no statement allows is answered AccessDeniedException and never reaches
  moto. `log_only=True` (the control): judged and recorded, then let through.
- `EgressDouble`: an HTTP server on 127.0.0.1 that stands in for the attacker's host and logs what it received. The
  engine sends that host's requests to it over real sockets (LocalHttpTransport.serve_loopback): a request that
  gets past egress really arrives.
- The adversary: `baton.local.model_doubles.ObedientModel` (it obeys every instruction it reads), as the planner
  and as the agent. `ReadsThroughJson` lets it read what a real model reads inside a JSON value (an escaped line
  break is a line break to a model; the double, alone, only reads directives standing on their own line), so a
  peer's data, which reaches it as JSON, can carry an instruction as the customer's plain text can.
  `ReadsThePageFirst` is an agent whose first move in every task is to read the reviews page (as its work would
  have it), then obeys. `route` is the planner's honest part: the steps the case needs; `answer` an agent's: it
  answers with what its tools returned.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from baton.aws import AwsClients
from baton.catalog import Catalog
from baton.iam import agent_role, render_policy
from baton.iam_eval import Decision, EvaluationError, evaluate
from baton.local.engine import LocalEngine
from baton.local.functions import agent_of
from baton.local.model_doubles import (
    ModelDouble,
    offered_tools,
    request_tokens,
    response,
    text,
    tool_results,
    tool_use,
    user_texts,
)
from baton.permissions import Call, Deployed, Untranslatable, deployed_of, requests_of
from tests.adversarial.app import EVIL_HOST, PAGE_URL, VICTIM, Fakes

Mode = Literal["enforced", "control"]
CATALOGS: dict[Mode, str] = {
    "enforced": "tests.adversarial.app:CATALOG",
    "control": "tests.adversarial.app:CONTROL_CATALOG",
}


# ---------------------------------------------------------------- IAM, offline


@dataclass(frozen=True)
class Judged:
    function: str
    action: str
    resource: str
    allowed: bool
    reason: str = ""


class _Refused:
    """The HTTP side of an AccessDenied answer botocore raises as a ClientError."""

    status_code = 400
    headers: dict[str, str] = {}  # noqa: RUF012
    content = b""


class IamGuard:
    """Judges each AWS call of an agent's function against the agent's derived role before moto sees it."""

    _PARAMS = "adversarial_params"

    def __init__(self, log_only: bool = False) -> None:
        self.log_only = log_only
        self.judged: list[Judged] = []
        self._lock = threading.Lock()
        self._engine: LocalEngine | None = None
        self._deployed: Deployed | None = None
        self._policies: dict[str, dict[str, Any]] = {}

    def watch(self, engine: LocalEngine, function: str, clients: AwsClients) -> AwsClients:
        """`clients`, whose every client (of an agent's function) is judged; other functions' pass as they are."""
        agent = agent_of(function)
        if agent is None:
            return clients
        self._engine = engine
        made_client = clients.client
        guarded: set[str] = set()
        lock = threading.Lock()

        def client(service: str) -> Any:
            made = made_client(service)
            with lock:
                if service not in guarded:
                    guarded.add(service)
                    made.meta.events.register("before-parameter-build", self._remember)
                    made.meta.events.register(
                        "before-call", lambda model, context, **_: self._decide(function, agent, model, context)
                    )
            return made

        clients.client = client  # type: ignore[method-assign]
        return clients

    def denied(self, function: str | None = None) -> list[Judged]:
        with self._lock:
            return [j for j in self.judged if not j.allowed and function in (None, j.function)]

    @classmethod
    def _remember(cls, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[cls._PARAMS] = json.loads(json.dumps(params, default=repr))

    def _decide(self, function: str, agent: str, model: Any, context: dict[str, Any]) -> Any:
        call = Call(function, model.service_model.endpoint_prefix, model.name, context.get(self._PARAMS, {}))
        verdicts: list[Judged] = []
        try:
            policy = self._policy(function, agent)
            for request in requests_of(call, self.deployed()):
                allowed = evaluate(policy, request) is Decision.ALLOW
                verdicts.append(Judged(function, request.action, request.resource, allowed))
        except (Untranslatable, EvaluationError) as error:  # a call IAM cannot be asked about is not allowed
            verdicts.append(Judged(function, f"{call.service}:{call.operation}", "?", False, str(error)))
        with self._lock:
            self.judged += verdicts
        if self.log_only or all(v.allowed for v in verdicts):
            return None
        refusal = {"Code": "AccessDeniedException", "Message": f"{function} is not authorized to perform {model.name}"}
        return _Refused(), {"Error": refusal, "ResponseMetadata": {"HTTPStatusCode": 400}}

    def _policy(self, function: str, agent: str) -> dict[str, Any]:
        with self._lock:
            if function not in self._policies:
                catalog = self._catalog()
                deployed = self.deployed()
                role = agent_role(catalog, catalog.agent(agent))
                self._policies[function] = render_policy(role, lambda ref: deployed.resolve(ref, function))
            return self._policies[function]

    def _catalog(self) -> Catalog:
        assert self._engine is not None
        return self._engine.catalog

    def deployed(self) -> Deployed:
        """The offline deployment's names, as baton.permissions renders ARNs with them."""
        if self._deployed is None:
            engine = self._engine
            assert engine is not None
            self._deployed = deployed_of(engine)
        return self._deployed


class GuardedEngine(LocalEngine):
    """The offline engine, with IAM judging agents' AWS calls (`guard`) and a count of each function's invocations."""

    def __init__(self, catalog: str, guard: IamGuard) -> None:
        self.guard = guard
        self.invoked: dict[str, int] = {}
        # a test's stand-in for what Lambda does around a function's handler (a timeout after the work, say)
        self.around: dict[str, Callable[[dict[str, Any], Callable[[dict[str, Any]], Any]], Any]] = {}
        self._invoked_lock = threading.Lock()
        super().__init__(catalog, wrap_handler=self._count)

    def _recording_clients(self, function: str) -> AwsClients:
        # LocalEngine makes each function's clients here (baton/local/engine.py): the one place the guard can sit
        return self.guard.watch(self, function, super()._recording_clients(function))

    def _count(self, function: str, handler: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        def counted(event: dict[str, Any]) -> Any:
            with self._invoked_lock:
                self.invoked[function] = self.invoked.get(function, 0) + 1
            around = self.around.get(function)
            return handler(event) if around is None else around(event, handler)

        return counted


# ---------------------------------------------------------------- the attacker's host


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes


class EgressDouble:
    """A loopback HTTP server standing in for the attacker's host: it answers 200 and logs every request."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers = {name.lower(): value for name, value in self.headers.items()}
                double.received.append(Received(self.command, self.path, headers, self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"thanks")

            do_GET = do_POST = do_PUT = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# ---------------------------------------------------------------- one deployment at a time


@dataclass
class Deployment:
    mode: Mode
    engine: GuardedEngine
    collector: EgressDouble
    victim_run: str  # a finished run of `lookup` for the victim: its items are what one attack goes for

    @property
    def fakes(self) -> Fakes:
        fakes: Fakes = self.engine.fixtures["desk-message"]
        return fakes

    @property
    def guard(self) -> IamGuard:
        return self.engine.guard


@dataclass
class Deployments:
    """The app (`enforced`) or its log-only control, opened when first asked for; opening one closes the other
    (moto and the offline functions are process-wide: two engines cannot be up at once). Tests of one mode are
    grouped, so a module switches once."""

    _open: Deployment | None = None
    opened: list[Mode] = field(default_factory=list)

    def get(self, mode: Mode) -> Deployment:
        if self._open is not None and self._open.mode == mode:
            return self._open
        self.close()
        engine = GuardedEngine(CATALOGS[mode], IamGuard(log_only=mode == "control"))
        engine.__enter__()
        collector = EgressDouble()
        try:
            engine.http.serve_loopback(EVIL_HOST, collector.port)
            victim = engine.run("lookup", {"customer_id": VICTIM}, timeout_seconds=60)
            assert victim.status.value == "SUCCEEDED", victim.reason
        except BaseException:
            collector.stop()
            engine.__exit__(None, None, None)
            raise
        self._open = Deployment(mode, engine, collector, victim.run_id)
        self.opened.append(mode)
        return self._open

    def close(self) -> None:
        if self._open is not None:
            self._open.collector.stop()
            self._open.engine.__exit__(None, None, None)
            self._open = None


# ---------------------------------------------------------------- the adversary


_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _read_through(chunk: str) -> str:
    """The text, and after it every JSON string in it that holds line breaks, decoded (as a model reads it)."""
    decoded = []
    for found in _JSON_STRING.finditer(chunk):
        if "\\n" in found.group(1):
            try:
                decoded.append(json.loads(f'"{found.group(1)}"'))
            except ValueError:
                continue
    return "\n".join([chunk, *decoded])


def _read_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    read = []
    for block in blocks:
        copy = dict(block)
        if isinstance(copy.get("text"), str):
            copy["text"] = _read_through(copy["text"])
        result = copy.get("toolResult")
        if isinstance(result, dict):
            parts = [
                {"text": _read_through(part["text"] if "text" in part else json.dumps(part.get("json")))}
                for part in result.get("content", [])
            ]
            copy["toolResult"] = {**result, "content": parts}
        read.append(copy)
    return read


class ReadsThroughJson:
    """`double`, reading JSON-escaped text as a model reads it (what Baton sent is unchanged: only what `double` is
    handed has each JSON string that holds line breaks also written out decoded)."""

    def __init__(self, double: ModelDouble) -> None:
        self.double = double

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        read = dict(request)
        read["system"] = _read_blocks(list(request.get("system", [])))
        read["messages"] = [
            {**message, "content": _read_blocks(list(message.get("content", [])))}
            for message in request.get("messages", [])
        ]
        return self.double.converse(caller, read)


class ReadsThePageFirst:
    """An agent model whose first move in each task is to read the reviews page; then `then` answers."""

    def __init__(self, then: ModelDouble) -> None:
        self.then = then

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        if tool_results(request):
            return self.then.converse(caller, request)
        first = tool_use("fetch_page", {"url": PAGE_URL}, "read-the-page")
        return response(text("Reading the reviews first."), first, input_tokens=request_tokens(request))


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """An agent's honest part: it answers with what its tools returned (a summariser relays what it read)."""
    said = [f"{name} ({status}): {text}" for name, status, text in tool_results(request)]
    result = {"text": "\n".join(said)[:7_000] or "Nothing to add."}
    return response(text("My answer."), tool_use("submit_result", result, "answer"))


_TRUSTED = "Trusted values of the run (JSON):\n"
_STEPS = "Steps so far (JSON):\n"


def route(request: dict[str, Any]) -> dict[str, Any]:
    """The planner's honest part: the researcher first (when the desk has one), then the agent the trusted `route`
    names, then finish with each step's status."""
    message = next(user_texts(request), "")
    trusted = json.loads(message.partition(_TRUSTED)[2].split("\n", 1)[0] or "{}")
    steps = json.loads(message.rpartition(_STEPS)[2].split("\n", 1)[0] or "[]")
    offered = offered_tools(request)
    done = {step["agent"] for step in steps}
    wanted = ["researcher", *(name for name in offered if name.startswith(f"{trusted.get('route')}_"))]
    for agent in wanted:
        if agent in offered and agent not in done:
            return response(text(f"Next: {agent}."), tool_use(agent, {}, f"route-{agent}"))
    outcome = {"steps": [f"{step['agent']}: {step['status']}" for step in steps]}
    return response(text("The case is settled."), tool_use("finish", outcome, "route-finish"))
