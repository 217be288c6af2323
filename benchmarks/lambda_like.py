"""A Lambda-like place to measure the functions' cold start on this machine, and what to replay in it.

Each function runs as Lambda runs it: a Python whose site-packages hold only what the Lambda runtime provides
(`build/bench-lambda/runtime`: boto3 and its dependencies, at the dev lock's versions), and the function's asset
as its LAMBDA_TASK_ROOT and on its path: the asset's third-party distributions (baton.bundle.RUNTIME_DISTRIBUTIONS
at the versions infra/lambda-requirements.txt pins, built for this machine) beside the function's own sources
(baton.bundle.source_files). Everything is installed from the dev lock's hashed entries, which cover every
platform (the Lambda lock's hashes are those of the manylinux aarch64 wheels, which do not install here); the
versions are checked against the Lambda lock first.

Two layouts of each asset: `bytecode/<kind>` with every module compiled ahead (what the measurements with
goals use: the figure the findings and the goals speak of), and `plain/<kind>` as the asset ships today, without
bytecode, so that every cold start compiles the asset's modules (Lambda's /var/task is read-only, so nothing is
cached). The runtime's boto3 has its bytecode in both, as on Lambda. What still differs from Lambda: this
machine's CPU and Python (not Graviton; the init section also measures on the Lambda runtime's Python version when
this machine has one, `lambda_python()`).

What is replayed (`record()`): each function's first invocation in a real offline run of the refund workflow
(the API's POST of examples/refund/default.json, then the orchestrator's first stage and the first agent's
task as moto's Step Functions invokes them, then the archiver on that run's audit records), with the raw HTTP
response of every AWS call it made. benchmarks/lambda_probe.py answers the same calls with the same responses.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLACE = ROOT / "build" / "bench-lambda"
PROBE = ROOT / "benchmarks" / "lambda_probe.py"
KINDS = ("api", "orchestrator", "agent", "archiver")
LAYOUTS = ("bytecode", "plain")
HANDLER_MODULE = "baton.functions.{kind}.handler"
REGION = "us-east-1"
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def lambda_env(kind: str, asset: Path, function_env: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment of a function on Lambda (X-Ray sampled, sent to a local address)."""
    from baton.settings import RUNTIME_ENV  # what CDK gives every function besides its Settings

    return {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(asset),
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only
        "LAMBDA_TASK_ROOT": str(asset),
        "LAMBDA_RUNTIME_DIR": str(asset),
        "_HANDLER": f"baton.functions.{kind}.handler.handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"baton-{kind}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/baton-{kind}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
        "AWS_SESSION_TOKEN": "bench-session-token",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        **RUNTIME_ENV,
        **(function_env or {}),
    }


# ---------------------------------------------------------------- the place


def _lock_entries(lock: str, names: set[str]) -> str:
    """The entries (pin and hashes) of `names` in a hashed requirements lock."""
    from baton.bundle import normalize

    out: list[str] = []
    keep = False
    for line in lock.splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==", line)
        if pin:
            keep = normalize(pin.group(1)) in names
        elif not line.startswith("    "):
            keep = False
        if keep and not line.lstrip().startswith("#"):
            out.append(line)
    return "\n".join(out).rstrip(" \\") + "\n"


def _pip(python: Path, requirements: str, where: Path, *options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    requirements_file = where.parent / f"{where.name}-requirements.txt"
    requirements_file.write_text(requirements)
    done = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--require-hashes",
            "--no-deps", "--only-binary=:all:", "--requirement", str(requirements_file), *options,
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError("pip could not build the Lambda-like place: " + done.stderr.strip()[-300:])


def _built(where: Path, digest: str) -> bool:
    stamp = where.parent / f"{where.name}.sha256"
    return where.exists() and stamp.exists() and stamp.read_text() == digest


def _stamp(where: Path, digest: str) -> None:
    (where.parent / f"{where.name}.sha256").write_text(digest)


def lambda_python() -> Path | None:
    """An interpreter of the Lambda runtime's Python version (baton.bundle.PYTHON_VERSION) on this machine, if it
    has one: on the PATH, or where pyenv keeps its versions (its shims on the PATH only run an activated version)."""
    from baton.bundle import PYTHON_VERSION

    name = f"python{PYTHON_VERSION}"
    found = shutil.which(name)
    kept = sorted(Path.home().glob(f".pyenv/versions/{PYTHON_VERSION}.*/bin/{name}"), reverse=True)
    for candidate in ([Path(found)] if found else []) + kept:
        done = subprocess.run([str(candidate), "-c", "import sys"], capture_output=True, check=False)
        if done.returncode == 0:
            return candidate
    return None


def prepare(base: Path | None = None, place: Path = PLACE) -> Path:
    """The runtime's Python (boto3 only) and the asset's third-party packages, each built once per lock content,
    under `place`, from `base` (default: this Python).

    Returns the runtime's interpreter; raises RuntimeError naming what failed.
    """
    from baton.bundle import RUNTIME_DISTRIBUTIONS, RUNTIME_PROVIDED, locked_versions, normalize, pinned_versions

    dev_lock = (ROOT / "dev-lock.txt").read_text()
    dev = locked_versions(dev_lock)
    for dist, version in pinned_versions().items():
        if dev.get(normalize(dist)) != version:
            raise RuntimeError(f"{dist}: the Lambda lock pins {version}, the dev lock {dev.get(normalize(dist))}")
    base = base or Path(sys.executable)
    interpreter = subprocess.run(
        [str(base), "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    runtime = place / "runtime"
    python = runtime / "bin" / "python"
    provided = _lock_entries(dev_lock, {normalize(d) for d in RUNTIME_PROVIDED})
    digest = hashlib.sha256((interpreter + provided).encode()).hexdigest()
    if not _built(runtime, digest):
        shutil.rmtree(runtime, ignore_errors=True)
        subprocess.run([str(base), "-m", "venv", "--without-pip", str(runtime)], check=True, capture_output=True)
        _pip(python, provided, runtime)
        _stamp(runtime, digest)
    bundled = _lock_entries(dev_lock, {normalize(d) for d in RUNTIME_DISTRIBUTIONS})
    digest = hashlib.sha256((interpreter + bundled).encode()).hexdigest()
    plain, compiled = place / "deps-plain", place / "deps-bytecode"
    if not (_built(plain, digest) and _built(compiled, digest)):
        for where in (plain, compiled):
            shutil.rmtree(where, ignore_errors=True)
        _pip(python, bundled, plain, "--no-compile", "--target", str(plain))
        shutil.copytree(plain, compiled)
        _compile(python, compiled)
        _stamp(plain, digest)
        _stamp(compiled, digest)
    return python


def _compile(python: Path, where: Path) -> None:
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", str(where)], check=True, capture_output=True)


def lay_out_assets(python: Path, place: Path = PLACE) -> dict[str, dict[str, Path]]:
    """layout -> kind -> the function's asset directory under `place`, fresh from the working tree."""
    from baton.bundle import source_files
    from baton.config import app_config, load_app

    catalog = load_app(app_config()).catalog
    dirs: dict[str, dict[str, Path]] = {}
    for layout in LAYOUTS:
        dirs[layout] = {}
        for kind in KINDS:
            target = place / layout / kind
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(place / f"deps-{layout}", target, copy_function=os.link)
            for path, name in source_files(kind, catalog):
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
            if layout == "bytecode":
                for top in {name.parts[0] for _, name in source_files(kind, catalog)}:
                    _compile(python, target / top)
            dirs[layout][kind] = target
    return dirs


# ---------------------------------------------------------------- recording


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class _Recorder:
    """Records the raw HTTP responses of the AWS calls each function's first invocation makes."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self._lock = threading.Lock()

    def params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = _jsonable(params)

    def after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        function = getattr(self.local, "function", None)
        if function is None:
            return
        call = {
            "service": model.service_model.service_id.hyphenize(),
            "client": model.service_model.service_name,
            "operation": model.name,
            "status": http_response.status_code,
            "headers": dict(http_response.headers),
            "body_b64": base64.b64encode(http_response.content).decode(),
            "params": context.get("bench_params", {}),
        }
        with self._lock:
            self.calls.setdefault(function, []).append(call)

    @contextmanager
    def invocation(self, function: str, event: dict[str, Any]) -> Iterator[bool]:
        """Records only the first invocation of each function."""
        with self._lock:
            first = function not in self.events
            if first:
                self.events[function] = copy.deepcopy(event)
                self.order.append(function)
        if first:
            self.local.function = function
        try:
            yield first
        finally:
            if first:
                self.local.function = None

    def wrap(self, function: str, handler: Any) -> Any:
        def recorded(event: dict[str, Any]) -> Any:
            with self.invocation(function, event):
                return handler(event)

        return recorded


def record() -> dict[str, dict[str, Any]]:
    """kind -> {"event", "calls", "env"}: the first invocation of each kind of function in an offline run."""
    import boto3
    import botocore.handlers

    from baton.aws import AwsClients
    from baton.functions.api import handler as api_handler
    from baton.functions.archiver import handler as archiver_handler
    from baton.local.engine import LOCAL_CALLER, LocalEngine
    from baton.local.provisioning import STATE_TABLE
    from baton.runtime import build_api, build_archiver
    from baton.settings import Settings

    recorder = _Recorder()
    added = [("before-parameter-build", recorder.params), ("after-call", recorder.after)]
    botocore.handlers.BUILTIN_HANDLERS.extend(added)
    try:
        with LocalEngine(wrap_handler=recorder.wrap) as engine:
            session = boto3.Session(region_name=REGION)
            api_env = Settings(
                state_table=STATE_TABLE,
                workflow_catalogs=engine.app.workflow_sources(),
                state_machines=engine.state_machines,
            ).to_env()
            run_input = json.loads((ROOT / "examples" / "refund" / "default.json").read_text())
            event = {
                "resource": "/workflows/{name}/runs",
                "path": "/workflows/refund/runs",
                "httpMethod": "POST",
                "pathParameters": {"name": "refund"},
                "headers": {"Content-Type": "application/json", "Idempotency-Key": "bench-cold-start"},
                "body": json.dumps({"input": run_input}),
                "requestContext": {"requestId": "bench-request", "identity": {"userArn": LOCAL_CALLER}},
            }
            services = build_api(api_env, AwsClients(session))
            with recorder.invocation("api", event):
                response = api_handler.handle(event, services)
            run_id = json.loads(response["body"])["run_id"]
            engine.wait(run_id)
            ddb = engine.clients.client("dynamodb")
            items = ddb.query(
                TableName=STATE_TABLE,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :audit)",
                ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":audit": {"S": "AUDIT#"}},
            )["Items"]
            bucket = "baton-bench-archive"
            engine.clients.client("s3").create_bucket(Bucket=bucket)
            archive_env = Settings(state_table=STATE_TABLE, archive_bucket=bucket).to_env()
            stream = {
                "Records": [
                    {"eventID": str(i), "eventName": "INSERT", "dynamodb": {"NewImage": item}}
                    for i, item in enumerate(items)
                ]
            }
            archiver = build_archiver(archive_env, AwsClients(session))
            with recorder.invocation("archiver", stream):
                archiver_handler.handle(stream, archiver)
            functions = engine.deployment.functions
    finally:
        for handler in added:
            botocore.handlers.BUILTIN_HANDLERS.remove(handler)
    envs = {"api": api_env, "archiver": archive_env, **functions}
    first_of = {
        "api": "api",
        "archiver": "archiver",
        "orchestrator": next(f for f in recorder.order if f.startswith("baton-orchestrator-")),
        "agent": next(f for f in recorder.order if f.startswith("baton-agent-")),
    }
    return {
        kind: {
            "function": name,
            "event": recorder.events[name],
            "calls": recorder.calls.get(name, []),
            "env": envs[name],
        }
        for kind, name in first_of.items()
    }


# ---------------------------------------------------------------- probing


def probe(python: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """One fresh process of the Lambda-like venv running lambda_probe.py on `spec`."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, result_file = Path(tmp, "spec.json"), Path(tmp, "result.json")
        spec_file.write_text(json.dumps(spec))
        done = subprocess.run(
            [str(python), "-P", str(PROBE), str(spec_file), str(result_file)],
            capture_output=True, text=True, env=spec["process_env"], cwd=tmp, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"probe failed: {done.stderr.strip()[-600:]}")
        result: dict[str, Any] = json.loads(result_file.read_text())
        result["stdout_lines"] = len(done.stdout.splitlines())
        return result


def median(values: list[float]) -> float:
    return float(statistics.median(values))
