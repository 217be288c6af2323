"""Runs inside the Lambda-like venv: one cold start of one handler, or of its yardstick, timed in-process.

    python -P benchmarks/lambda_probe.py SPEC.json RESULT.json

Nothing but the standard library is imported before the clock starts. The AWS calls are answered at the HTTP
layer: a `before-send` handler (registered the way botocore registers its own, through
`botocore.handlers.BUILTIN_HANDLERS`, as soon as that module is loaded) returns the recorded HTTP response of
each call, so serialisation, signing, retries, parsing and X-Ray's botocore patch all run; only the network
round trip does not. No moto here: it is only used, in another process, to record the responses.

SPEC: {"mode": "handler" | "yardstick" | "import", "env": {...}, "module": "...", "event": {...}, "invocations": N,
"calls": [{"service", "operation", "status", "headers", "body_b64", "params"}], "services": [...]}
RESULT: {"import_ms", "first_ms", "total_ms", "import_cpu_ms", "total_cpu_ms", "warm_ms", "calls", ...}
"""

from __future__ import annotations

import base64
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import socket
import sys
import time
from collections import deque
from typing import Any

_replies: dict[tuple[str, str], deque[dict[str, Any]]] = {}
_made: list[str] = []
_clients: list[str] = []


class _Raw:
    """What botocore reads an HTTP response's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _before_send(request: Any, event_name: str, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    service, operation = event_name.split(".", 2)[1:]
    _made.append(f"{service}:{operation}")
    queue = _replies.get((service, operation))
    if not queue:
        raise RuntimeError(f"no recorded response for {service}:{operation}")
    reply = queue.popleft()
    return AWSResponse(request.url, reply["status"], reply["headers"], _Raw(base64.b64decode(reply["body_b64"])))


def _created(event_name: str, **_: Any) -> None:
    _clients.append(event_name.split(".", 1)[1])


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `then(module)` right after `name` is first imported (to register the HTTP stub)."""

    def __init__(self, name: str, then: Any) -> None:
        self._name = name
        self._then = then

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self._name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader, then = spec.loader, self._then
        execute = loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            then(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _register(handlers: Any) -> None:
    handlers.BUILTIN_HANDLERS.append(("before-send", _before_send))
    handlers.BUILTIN_HANDLERS.append(("creating-client-class", _created))


def _load(calls: list[dict[str, Any]]) -> None:
    _replies.clear()
    for call in calls:
        _replies.setdefault((call["service"], call["operation"]), deque()).append(call)


class _Context:
    """The Lambda context object, as much of it as Powertools reads."""

    function_name = "baton-bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:baton-bench"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/baton-bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _yardstick(spec: dict[str, Any]) -> None:
    """What any Python Lambda function using these services pays: boto3, its clients, one call."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
    clients = {service: boto3.client(service, config=config) for service in spec["services"]}
    call = spec["calls"][0]
    client = clients[call["client"]]
    method = client.meta.method_to_api_mapping
    name = next(python for python, api in method.items() if api == call["operation"])
    getattr(client, name)(**_decode(call["params"]))


def _peak_rss_mb() -> float | None:
    """This process's peak resident set (VmHWM; ru_maxrss would include the parent's, kept across exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _daemon() -> socket.socket:
    """Where X-Ray sends its segments in this process: a local UDP socket standing in for the X-Ray daemon."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.setblocking(False)
    os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{daemon.getsockname()[1]}"
    return daemon


def _segments(daemon: socket.socket) -> list[dict[str, Any]]:
    """What X-Ray sent: each (sub)segment's name and annotations."""
    sent: list[dict[str, Any]] = []
    while True:
        try:
            datagram = daemon.recv(65535)
        except BlockingIOError:
            return sent
        body = json.loads(datagram.split(b"\n", 1)[1])
        sent.append({"name": body.get("name"), "annotations": sorted(body.get("annotations", {}))})


def _reads(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: what the process reads besides code (files opened, directories listed, but not by importlib)."""
    if event not in {"open", "os.listdir", "os.scandir"}:
        return
    caller = sys._getframe(1).f_code.co_filename
    if caller.startswith("<frozen importlib"):
        return
    if event == "open" and isinstance(args[0], str | bytes):
        name = os.fsdecode(args[0])
        if not name.endswith((".py", ".pyc", ".so")):
            _read.append(name)
    elif event in {"os.listdir", "os.scandir"}:
        _read.append(f"list {args[0]}")


_read: list[str] = []


def main() -> int:
    spec = json.loads(open(sys.argv[1]).read())  # noqa: SIM115 (the standard library only)
    os.environ.update(spec.get("env", {}))
    sys.meta_path.insert(0, _AfterImport("botocore.handlers", _register))
    _load(spec["calls"])
    daemon = _daemon()
    if spec.get("audit"):
        sys.addaudithook(_reads)
    result: dict[str, Any] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    if spec["mode"] == "yardstick":
        _yardstick(spec)
        result["import_ms"] = None
    elif spec["mode"] == "import":
        importlib.import_module(spec["module"])
        result["import_ms"] = (time.perf_counter() - wall) * 1000
        result["read_at_import"] = list(_read)
    else:
        module = importlib.import_module(spec["module"])
        result["import_ms"] = (time.perf_counter() - wall) * 1000
        result["import_cpu_ms"] = (time.process_time() - cpu) * 1000
        started = time.perf_counter()
        response = module.handler(spec["event"], _Context())
        result["first_ms"] = (time.perf_counter() - started) * 1000
        result["response"] = response
        result["xray"] = _segments(daemon)
    result["total_ms"] = (time.perf_counter() - wall) * 1000
    result["total_cpu_ms"] = (time.process_time() - cpu) * 1000
    result["calls"] = list(_made)
    result["clients"] = list(_clients)
    if spec["mode"] == "handler":
        warm = []
        for _ in range(spec.get("invocations", 1) - 1):
            _load(spec["calls"])
            started = time.perf_counter()
            module.handler(spec["event"], _Context())
            warm.append((time.perf_counter() - started) * 1000)
        result["warm_ms"] = sorted(warm)[len(warm) // 2] if warm else None
    result["modules"] = len(sys.modules)
    root = os.environ.get("LAMBDA_TASK_ROOT", "")
    result["from_asset"] = sorted(
        {
            name.split(".")[0]
            for name, module in list(sys.modules.items())
            if root and str(getattr(module, "__file__", None) or "").startswith(root)
        }
    )
    result["max_rss_mb"] = _peak_rss_mb()
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
