"""Cold start of every Lambda function, measured Lambda-like, and asset size.

Where: the Lambda-like venv and each function's asset directory of benchmarks/lambda_like.py (only the asset's
packages and the runtime's boto3; LAMBDA_TASK_ROOT and the function's environment set; X-Ray on, sampled).
Each figure is a fresh process of that venv running benchmarks/lambda_probe.py; the processes of one round
run one after the other (each handler beside its own baseline), ROUNDS rounds after one discarded warm-up
round (which writes the asset's bytecode), and each figure is the median over the rounds.

- imports: `import baton.functions.<kind>.handler`, as a ratio to `import boto3` (goal: at most 1.5x). Beside
  it, `import strands` and `import langgraph.graph` in the bench-only `.venv-bench`, as a ratio to
  `import boto3` there.
- init: the handler's import plus its first invocation, replaying that function's first invocation of an
  offline refund run (its AWS calls answered with their recorded HTTP responses, so no round trip is timed),
  as a ratio to a yardstick: `import boto3`, a client for each service the handler calls (Baton's client
  configuration), and the handler's first call, answered the same way (goal: at most 1.5x).
- assets: each function's asset as infra/bundling.py builds it, unzipped and zipped (goal: at most 15 MB),
  with, as its baseline, the third-party distributions alone.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from baton.bundle import PYTHON_VERSION
from benchmarks.bench import goal
from benchmarks.lambda_like import (
    HANDLER_MODULE,
    KINDS,
    PLACE,
    lambda_env,
    lambda_python,
    lay_out_assets,
    median,
    prepare,
    probe,
    record,
)

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
COMPARISON_ROUNDS = 3
IMPORT_LIMIT = 1.5
INIT_LIMIT = 1.5
ASSET_LIMIT_MB = 15
_BENCH_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
_WHERE = (
    "Lambda-like: a boto3-only Python (the runtime's) + the function's asset as LAMBDA_TASK_ROOT, this machine's "
    "CPU and Python; X-Ray on; asset modules compiled ahead"
)
_PLAIN = "as the asset ships (no bytecode: compiled at each cold start)"


def _setup() -> tuple[Path, dict[str, dict[str, Path]]] | dict[str, str]:
    try:
        python = prepare()
        return python, lay_out_assets(python)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        return {"na": f"no Lambda-like environment: {error}"}


def _import_spec(module: str, env: dict[str, str]) -> dict[str, Any]:
    return {"mode": "import", "module": module, "calls": [], "process_env": env}


# ---------------------------------------------------------------- imports


def _self_times(python: Path, module: str, env: dict[str, str]) -> dict[str, float]:
    """Self time (ms) of each package `import module` loads (baton's modules one by one), from -X importtime."""
    code = f"import sys; sys.stderr.write('--mark--\\n'); import {module}"
    done = subprocess.run(
        [str(python), "-X", "importtime", "-P", "-c", code], capture_output=True, text=True, env=env, check=True
    )
    times: collections.defaultdict[str, float] = collections.defaultdict(float)
    for line in done.stderr.split("--mark--", 1)[1].splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not own.isdigit():
            continue
        parts = name.split(".")
        times[".".join(parts[:2]) if parts[0] in {"baton", "refund_app"} else parts[0]] += int(own) / 1000
    return dict(times)


def bench_imports(bench_python: str | None) -> dict[str, Any]:
    setup = _setup()
    if isinstance(setup, dict):
        return setup
    python, assets = setup
    envs = {kind: lambda_env(kind, assets["bytecode"][kind]) for kind in KINDS}
    plain_envs = {kind: lambda_env(kind, assets["plain"][kind]) for kind in KINDS}
    samples: dict[str, list[float]] = {"boto3": [], **{kind: [] for kind in KINDS}}
    plain: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for round_ in range(ROUNDS + 1):
        for kind in KINDS:
            module = HANDLER_MODULE.format(kind=kind)
            boto3_ms = probe(python, _import_spec("boto3", envs[kind]))["import_ms"]
            handler_ms = probe(python, _import_spec(module, envs[kind]))["import_ms"]
            plain_ms = probe(python, _import_spec(module, plain_envs[kind]))["import_ms"]
            if round_:  # the first round warms the file cache
                samples["boto3"].append(boto3_ms)
                samples[kind].append(handler_ms)
                plain[kind].append(plain_ms)
    boto3_ms = median(samples["boto3"])
    boto3_packages = _self_times(python, "boto3", envs["agent"])
    result: dict[str, Any] = {
        "where": _WHERE,
        "rounds": ROUNDS,
        "boto3_ms": round(boto3_ms, 1),
        "boto3_samples": [round(s, 1) for s in samples["boto3"]],
        "handlers": {},
        "comparison": {},
        "goals": [],
        "notes": [],
    }
    for kind in KINDS:
        ms = median(samples[kind])
        own = _self_times(python, HANDLER_MODULE.format(kind=kind), envs[kind])
        beyond = sorted(((n, t) for n, t in own.items() if n not in boto3_packages), key=lambda kv: -kv[1])[:8]
        audited = probe(python, {**_import_spec(HANDLER_MODULE.format(kind=kind), envs[kind]), "audit": True})
        result["handlers"][kind] = {
            "read_at_import": audited["read_at_import"],
            "ms": round(ms, 1),
            "ratio_to_boto3": round(ms / boto3_ms, 2),
            "samples": [round(s, 1) for s in samples[kind]],
            "beyond_boto3": [(name, round(t, 1)) for name, t in beyond],
            "plain_ms": round(median(plain[kind]), 1),
            "plain_ratio_to_boto3": round(median(plain[kind]) / boto3_ms, 2),
        }
        result["goals"].append(
            goal(
                f"import {kind} handler (Lambda-like)", ms, IMPORT_LIMIT, "ms", boto3_ms, "import boto3", relative=True
            )
        )
        reads = len(result["handlers"][kind]["read_at_import"])
        result["goals"].append(goal(f"  {kind}: files read at import, besides code", reads, 0, "files"))
    for kind, figures in result["handlers"].items():
        result["notes"].append(
            (
                f"  {kind}: {_PLAIN}",
                f"{figures['plain_ms']:.0f} ms = {figures['plain_ratio_to_boto3']:.2f}x import boto3",
            )
        )
        reads = figures["read_at_import"]
        if reads:
            result["notes"].append((f"  {kind}: read at import, besides code", ", ".join(reads[:6])))
        result["notes"].append(
            (f"  {kind}: heaviest beyond boto3's", ", ".join(f"{n} {t}" for n, t in figures["beyond_boto3"][:6]))
        )
    for label, module in (("strands", "strands"), ("langgraph", "langgraph.graph")):
        result["comparison"][label] = _comparison(bench_python, module)
    return result


def _comparison(bench_python: str | None, module: str) -> dict[str, Any]:
    if bench_python is None:
        return {"na": "bench-only environment (.venv-bench) not available"}
    env = {"PATH": os.environ.get("PATH", ""), **_BENCH_ENV}
    base: list[float] = []
    own: list[float] = []
    try:
        for _ in range(COMPARISON_ROUNDS):
            base.append(probe(Path(bench_python), _import_spec("boto3", env))["import_ms"])
            own.append(probe(Path(bench_python), _import_spec(module, env))["import_ms"])
    except RuntimeError as error:
        return {"na": f"import {module} failed: {str(error).splitlines()[-1:]}"}
    ms, boto3_ms = median(own), median(base)
    return {"ms": round(ms, 1), "ratio_to_boto3": round(ms / boto3_ms, 2), "boto3_ms_same_env": round(boto3_ms, 1)}


# ---------------------------------------------------------------- init + first invocation


def bench_init() -> dict[str, Any]:
    setup = _setup()
    if isinstance(setup, dict):
        return setup
    python, assets = setup
    try:
        recorded = record()
    except Exception as error:
        return {"na": f"could not record the offline run: {type(error).__name__}: {error}"}
    specs: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in KINDS:
        handler_spec, yardstick_spec = _init_specs(kind, recorded[kind], assets["bytecode"][kind], invocations=5)
        plain_spec, _ = _init_specs(kind, recorded[kind], assets["plain"][kind], invocations=1)
        specs[kind] = {"handler": handler_spec, "plain": plain_spec, "yardstick": yardstick_spec}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        kind: {"handler": [], "plain": [], "yardstick": []} for kind in KINDS
    }
    for round_ in range(ROUNDS + 1):
        for kind in KINDS:
            measured = {what: probe(python, spec) for what, spec in specs[kind].items()}
            if round_:  # the first round warms the file cache
                for what, figures in measured.items():
                    runs[kind][what].append(figures)
    result: dict[str, Any] = {"where": _WHERE, "rounds": ROUNDS, "handlers": {}, "goals": [], "notes": []}
    for kind in KINDS:
        samples = runs[kind]
        first = samples["handler"][0]

        def mid(key: str, what: str) -> float:
            return round(median([s[key] for s in samples[what]]), 1)  # noqa: B023 (used in this iteration only)

        total, baseline, plain = mid("total_ms", "handler"), mid("total_ms", "yardstick"), mid("total_ms", "plain")
        yardstick = specs[kind]["yardstick"]
        result["handlers"][kind] = {
            "function": recorded[kind]["function"],
            "import_ms": mid("import_ms", "handler"),
            "first_invocation_ms": mid("first_ms", "handler"),
            "total_ms": total,
            "total_cpu_ms": mid("total_cpu_ms", "handler"),
            "warm_invocation_ms": mid("warm_ms", "handler"),
            "max_rss_mb": mid("max_rss_mb", "handler"),
            "yardstick_ms": baseline,
            "yardstick_cpu_ms": mid("total_cpu_ms", "yardstick"),
            "yardstick_max_rss_mb": mid("max_rss_mb", "yardstick"),
            "ratio_to_yardstick": round(total / baseline, 2),
            "cpu_ratio_to_yardstick": round(mid("total_cpu_ms", "handler") / mid("total_cpu_ms", "yardstick"), 2),
            "plain_total_ms": plain,
            "plain_ratio_to_yardstick": round(plain / baseline, 2),
            "aws_calls": first["calls"],
            "clients_created": first["clients"],
            "xray_segments": first["xray"],
            "packages_from_asset": first["from_asset"],
            "yardstick": {"services": yardstick["services"], "call": yardstick["calls"][0]["operation"]},
            "total_samples": [round(s["total_ms"], 1) for s in samples["handler"]],
            "yardstick_samples": [round(s["total_ms"], 1) for s in samples["yardstick"]],
        }
        result["goals"].append(
            goal(f"init + first invocation, {kind}", total, INIT_LIMIT, "ms", baseline, "yardstick", relative=True)
        )
    for kind, figures in result["handlers"].items():
        result["notes"] += [
            (
                f"  {kind}: yardstick",
                f"boto3, {', '.join(figures['yardstick']['services'])} client(s), one {figures['yardstick']['call']}",
            ),
            (
                f"  {kind}: import / first / warm invocation",
                f"{figures['import_ms']:.0f} / {figures['first_invocation_ms']:.0f} /"
                f" {figures['warm_invocation_ms']:.1f} ms; AWS calls: {', '.join(figures['aws_calls'])};"
                f" CPU {figures['cpu_ratio_to_yardstick']:.2f}x yardstick's; max RSS {figures['max_rss_mb']:.0f} MB"
                f" (yardstick {figures['yardstick_max_rss_mb']:.0f} MB)",
            ),
            (
                f"  {kind}: {_PLAIN}",
                f"{figures['plain_total_ms']:.0f} ms = {figures['plain_ratio_to_yardstick']:.2f}x yardstick",
            ),
            (
                f"  {kind}: X-Ray, first invocation",
                ", ".join(
                    seg["name"] + (f" [{' '.join(seg['annotations'])}]" if seg["annotations"] else "")
                    for seg in figures["xray_segments"]
                )
                or "NOTHING SENT",
            ),
            (f"  {kind}: packages loaded from the asset", ", ".join(figures["packages_from_asset"])),
        ]
    lambda_python_figures = _on_lambda_python(recorded)
    if isinstance(lambda_python_figures, str):
        result["notes"].append((f"on Lambda's Python {PYTHON_VERSION}", lambda_python_figures))
        return result
    result["lambda_python"] = lambda_python_figures
    result["notes"] += [
        (
            f"init + first invocation, {kind}, on Lambda's Python {PYTHON_VERSION}",
            f"{f['total_ms']:.0f} ms = {f['ratio_to_yardstick']:.2f}x yardstick ({f['yardstick_ms']:.0f} ms)",
        )
        for kind, f in lambda_python_figures.items()
    ]
    return result


def _init_specs(
    kind: str, recorded: dict[str, Any], asset: Path, invocations: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The probe specs of a function's recorded first invocation from `asset`, and of its yardstick (boto3, a client
    for each service the function called, and its first call)."""
    calls = recorded["calls"]
    env = lambda_env(kind, asset, recorded["env"])
    handler = {
        "mode": "handler",
        "module": HANDLER_MODULE.format(kind=kind),
        "event": recorded["event"],
        "calls": calls,
        "invocations": invocations,
        "process_env": env,
    }
    yardstick = {
        "mode": "yardstick",
        "calls": calls[:1],
        "services": sorted({call["client"] for call in calls}),
        "process_env": env,
    }
    return handler, yardstick


def _on_lambda_python(recorded: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]] | str:
    """Init + first invocation of each handler and its yardstick on the Lambda runtime's own Python version (the
    figures with goals are on this machine's development Python), when this machine has it: the Lambda-like place
    built again from that Python, ROUNDS rounds after one that warms the file cache. Or why there is none."""
    runtime = lambda_python()
    if runtime is None:
        return f"not measured: no python{PYTHON_VERSION} on this machine"
    place = PLACE / f"python{PYTHON_VERSION}"
    try:
        python = prepare(runtime, place)
        assets = lay_out_assets(python, place)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        return f"not measured: {error}"
    specs = {kind: _init_specs(kind, recorded[kind], assets["bytecode"][kind], invocations=1) for kind in KINDS}
    samples: dict[str, dict[str, list[float]]] = {kind: {"handler": [], "yardstick": []} for kind in KINDS}
    for round_ in range(ROUNDS + 1):
        for kind in KINDS:
            for what, spec in zip(("handler", "yardstick"), specs[kind], strict=True):
                total = probe(python, spec)["total_ms"]
                if round_:  # the first round warms the file cache
                    samples[kind][what].append(total)
    figures: dict[str, dict[str, float]] = {}
    for kind, measured in samples.items():
        total, baseline = median(measured["handler"]), median(measured["yardstick"])
        figures[kind] = {
            "total_ms": round(total, 1),
            "yardstick_ms": round(baseline, 1),
            "ratio_to_yardstick": round(total / baseline, 2),
        }
    return figures


# ---------------------------------------------------------------- asset size


def _lambda_wheels(policy_engine: bool = False) -> Path | dict[str, str]:
    """The Lambda lock's distributions, as the asset installs them (aarch64 cp313 wheels, no bytecode); with
    `policy_engine`, the policy lock's (the Cedar engine an agent under tool-call policies ships besides)."""
    from baton.bundle import lambda_lock, policy_lock

    lock = policy_lock() if policy_engine else lambda_lock()
    name = "policy-deps" if policy_engine else "deps"
    target = ROOT / "build" / "bench-assets" / name
    stamp = target.parent / f"{name}.lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    subprocess.run(["rm", "-rf", str(target)], check=True)
    done = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--platform", "manylinux2014_aarch64",
            "--python-version", "3.13", "--implementation", "cp", "--only-binary=:all:", "--no-compile",
            "--no-deps", "--require-hashes", "--requirement", str(lock), "--target", str(target),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return {"na": "pip could not fetch the Lambda wheels: " + done.stderr.strip()[-200:]}
    stamp.write_text(digest)
    return target


def _zip(files: list[tuple[Path, str]]) -> tuple[float, float]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in files:
            archive.write(path, name)
    return sum(p.stat().st_size for p, _ in files) / 1e6, len(buffer.getvalue()) / 1e6


def bench_assets() -> dict[str, Any]:
    from baton.bundle import KINDS as BUNDLE_KINDS
    from baton.bundle import source_files
    from baton.config import app_config, load_app

    catalog = load_app(app_config()).catalog
    target = _lambda_wheels()
    if isinstance(target, dict):
        return target
    deps = [(p, p.relative_to(target).as_posix()) for p in sorted(target.rglob("*")) if p.is_file()]
    deps_unzipped, deps_zipped = _zip(deps)
    result: dict[str, Any] = {
        "deps": {"unzipped_mb": round(deps_unzipped, 2), "zipped_mb": round(deps_zipped, 2)},
        "goals": [],
    }
    for kind in BUNDLE_KINDS:
        unzipped, zipped = _zip(deps + [(path, name.as_posix()) for path, name in source_files(kind, catalog)])
        result[kind] = {"unzipped_mb": round(unzipped, 2), "zipped_mb": round(zipped, 2)}
        result["goals"].append(
            goal(
                f"asset {kind} (unzipped; zipped {zipped:.1f} MB)",
                unzipped,
                ASSET_LIMIT_MB,
                "MB",
                deps_unzipped,
                "its third-party packages alone",
            )
        )
    # an agent under tool-call policies ships the Cedar engine too (baton.bundle.POLICY_DISTRIBUTIONS): over the goal
    engine = _lambda_wheels(policy_engine=True)
    if isinstance(engine, dict):
        result["agent_with_policies"] = engine
        return result
    engine_files = [(p, p.relative_to(engine).as_posix()) for p in sorted(engine.rglob("*")) if p.is_file()]
    sources = [(path, name.as_posix()) for path, name in source_files("agent", catalog)]
    unzipped, zipped = _zip(deps + engine_files + sources)
    result["agent_with_policies"] = {"unzipped_mb": round(unzipped, 2), "zipped_mb": round(zipped, 2)}
    result["goals"].append(
        goal(
            f"asset agent under policies (unzipped; zipped {zipped:.1f} MB)",
            unzipped,
            ASSET_LIMIT_MB,
            "MB",
            deps_unzipped,
            "its third-party packages without the policy engine",
        )
    )
    return result
