"""Cold-start proxy and asset size of every Lambda function.

Import time: `python -X importtime -c "import MODULE"` in a fresh process, the sum of the cumulative
times of the imports the statement triggers (Python's own start-up imports are excluded), median of
several runs, as a ratio to a bare `import boto3` measured the same way in the same run.

Asset size: the function's bundle as baton.bundle plans it (its runtime distributions as
manylinux2014_aarch64 / cp313 wheels, no bytecode, plus baton's and the app's sources the function imports),
unzipped and zipped.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = {
    "api": "baton.functions.api.handler",
    "orchestrator": "baton.functions.orchestrator.handler",
    "agent": "baton.functions.agent.handler",
}
MARK = "--baton-import-starts--"
REPEATS = 7
_LAMBDA_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "baton"}


def import_ms(python: str, module: str, repeats: int = REPEATS) -> tuple[float, list[tuple[str, float]]]:
    """Median milliseconds to import `module` in a fresh interpreter, and its heaviest top-level imports."""
    samples: list[float] = []
    heaviest: dict[str, float] = {}
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **_LAMBDA_ENV}
    code = f"import sys; sys.stderr.write({MARK!r} + '\\n'); import {module}"
    for _ in range(repeats):
        done = subprocess.run(
            [python, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True
        )
        after = done.stderr.split(MARK, 1)[1]
        total = 0
        for line in after.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if not cumulative.isdigit():
                continue
            field = line.split("|")[2]
            depth = (len(field) - len(field.lstrip()) - 1) // 2  # importtime indents two spaces a level
            if depth == 0:  # an import the statement itself triggered
                total += int(cumulative)
            if depth <= 1:
                heaviest[name.strip()] = max(heaviest.get(name.strip(), 0), int(cumulative) / 1000)
        samples.append(total / 1000)
    top = sorted(heaviest.items(), key=lambda kv: -kv[1])[:6]
    return statistics.median(samples), top


def bench_imports(bench_python: str | None) -> dict[str, Any]:
    python = sys.executable
    boto3_ms, _ = import_ms(python, "boto3")
    result: dict[str, Any] = {"boto3_ms": round(boto3_ms, 1), "handlers": {}, "comparison": {}}
    for kind, module in HANDLERS.items():
        ms, top = import_ms(python, module)
        result["handlers"][kind] = {
            "ms": round(ms, 1),
            "ratio_to_boto3": round(ms / boto3_ms, 2),
            "heaviest": [(name, round(t, 1)) for name, t in top],
        }
    for label, module in (("strands", "strands"), ("langgraph", "langgraph.graph")):
        if bench_python is None:
            result["comparison"][label] = {"na": "bench-only environment (.venv-bench) not available"}
            continue
        try:
            base, _ = import_ms(bench_python, "boto3", 3)
            ms, top = import_ms(bench_python, module, 3)
        except subprocess.CalledProcessError as error:
            result["comparison"][label] = {"na": f"import {module} failed: {error.stderr.strip().splitlines()[-1:]}"}
            continue
        result["comparison"][label] = {
            "ms": round(ms, 1),
            "ratio_to_boto3": round(ms / base, 2),
            "boto3_ms_same_env": round(base, 1),
            "heaviest": [(n, round(t, 1)) for n, t in top],
        }
    return result


# ---------------------------------------------------------------- asset size


def bench_assets() -> dict[str, Any]:
    from baton.bundle import KINDS, RUNTIME_DISTRIBUTIONS, source_files
    from baton.config import app_config, load_app

    catalog = load_app(app_config()).catalog
    target = ROOT / "build" / "bench-assets" / "deps"
    if not target.exists():
        done = subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--platform", "manylinux2014_aarch64",
                "--python-version", "3.13", "--implementation", "cp", "--only-binary=:all:", "--no-compile",
                "--no-deps", "--constraint", str(ROOT / "constraints.txt"), "--target", str(target),
                *RUNTIME_DISTRIBUTIONS,
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            return {"na": "pip could not fetch the Lambda wheels: " + done.stderr.strip()[-200:]}
    deps = [(p, p.relative_to(target).as_posix()) for p in sorted(target.rglob("*")) if p.is_file()]
    result: dict[str, Any] = {}
    for kind in KINDS:
        files = deps + [(path, target.as_posix()) for path, target in source_files(kind, catalog)]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in files:
                archive.write(path, name)
        result[kind] = {
            "unzipped_mb": round(sum(p.stat().st_size for p, _ in files) / 1e6, 2),
            "zipped_mb": round(len(buffer.getvalue()) / 1e6, 2),
        }
    return result
