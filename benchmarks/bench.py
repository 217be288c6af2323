"""`make bench`: every figure of benchmarks/README.md, printed as one table and written as JSON.

  python -m benchmarks.bench [--json FILE] [--bench-python PATH] [--quick] [--skip SECTION ...]

--quick shortens the growth lengths (1, 10, 100) and the scale stage (100 tasks), for a smoke run.

Goals: a section states each of its goals with `goal(...)` (below) and returns them in a "goals" list of its
figures; the table prints every goal the same way (value, its ratio to the baseline measured in the same run,
the limit, met or NOT met), and the JSON keeps each goal as `goal` returned it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.observability import logs_to

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "imports",
    "init",
    "assets",
    "cost",
    "models",
    "detector",
    "growth",
    "langgraph",
    "scale",
    "speed",
    "suite",
)


def goal(
    name: str,
    value: float,
    limit: float,
    unit: str,
    baseline: float | None = None,
    baseline_name: str = "baseline",
    *,
    relative: bool = False,
    higher_is_better: bool = False,
) -> dict[str, Any]:
    """One goal and whether `value` meets it, for the JSON and the table.

    `limit` is in `unit`, or with relative=True a multiple of `baseline` (a figure measured in the same run,
    named by `baseline_name`): `goal("import agent", 180.0, 1.5, "ms", 120.0, "import boto3", relative=True)`
    is met when 180 ms <= 1.5 x 120 ms. The ratio value/baseline is kept whenever a baseline is given.
    """
    if relative and not baseline:
        raise ValueError(f"goal {name!r}: a relative limit needs a baseline")
    ratio = value / baseline if baseline else None
    compared = ratio if relative else value
    assert compared is not None
    met = compared >= limit if higher_is_better else compared <= limit
    return {
        "goal": name,
        "value": round(value, 3),
        "unit": unit,
        "limit": limit,
        "relative": relative,
        "higher_is_better": higher_is_better,
        "baseline": None if baseline is None else round(baseline, 3),
        "baseline_name": baseline_name if baseline is not None else None,
        "ratio": None if ratio is None else round(ratio, 3),
        "met": met,
    }


def _amount(value: float, unit: str) -> str:
    if isinstance(value, int):
        return f"{value} {unit}"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.2f} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"


def goal_row(g: dict[str, Any]) -> tuple[str, str, str, str]:
    """A goal as a table row: (figure, value and ratio to its baseline, the goal, met / NOT met)."""
    value = _amount(g["value"], g["unit"])
    if g.get("ratio") is not None:
        value += f" = {g['ratio']:.2f}x {g['baseline_name']} ({_amount(g['baseline'], g['unit'])})"
    sign = ">=" if g.get("higher_is_better") else "<="
    if g.get("relative"):
        limit = f"{sign} {g['limit']:g}x {g['baseline_name']}"
    else:
        limit = f"{sign} {g['limit']:g} {g['unit']}"
    return g["goal"], value, limit, _goal(g["met"])


def section_rows(section: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The rows of a section that states its goals: each goal, then its "notes" ([figure, value] pairs)."""
    rows = [goal_row(g) for g in section["goals"]]
    rows += [(str(figure), str(value), "", "") for figure, value in section.get("notes", [])]
    return rows


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": load,  # other work on the machine while the bench started (1, 5, 15 min)
        "arch": platform.machine(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def langgraph_growth(bench_python: str | None, lengths: list[int]) -> dict[str, Any]:
    if bench_python is None:
        return {"na": "bench-only environment (.venv-bench) not available"}
    done = subprocess.run(
        [bench_python, str(ROOT / "benchmarks" / "langgraph_growth.py"), *map(str, lengths)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        return {"na": "langgraph run failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_sections(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.coldstart import bench_assets, bench_imports, bench_init
    from benchmarks.cost import bench_cost
    from benchmarks.detector import bench_detector
    from benchmarks.growth import LENGTHS, SCALE_TASKS, bench_growth, bench_scale
    from benchmarks.models import bench_models
    from benchmarks.speed import bench_baton_run, bench_test_suite

    lengths = (1, 10, 100) if args.quick else LENGTHS
    tasks = 100 if args.quick else SCALE_TASKS
    # absolute, not resolved: the probes run elsewhere, and a venv's python resolves to its base interpreter
    given = args.bench_python
    bench_python = os.path.abspath(given) if given and Path(given).exists() else None
    plan: dict[str, Callable[[], Any]] = {
        "imports": lambda: bench_imports(bench_python),
        "init": bench_init,
        "assets": bench_assets,
        "cost": bench_cost,
        "models": bench_models,
        "detector": bench_detector,
        "growth": lambda: bench_growth(lengths),
        "langgraph": lambda: langgraph_growth(bench_python, list(lengths)),
        "scale": lambda: bench_scale(tasks),
        "speed": bench_baton_run,
        "suite": bench_test_suite,
    }
    results: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    log = ROOT / ".baton" / "logs" / "bench.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    for name, section in plan.items():
        if name in args.skip:
            results[name] = {"na": "skipped (--skip)"}
            continue
        print(f"  {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        with log.open("a") as logs, logs_to(logs):
            results[name] = section()
        print(f"  {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------- the table


def _na(value: Any) -> str | None:
    return f"n/a ({value['na']})" if isinstance(value, dict) and "na" in value else None


def _goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


def table(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:  # noqa: PLR0912, PLR0915 (one row each)
    """Rows of (figure, value, goal, verdict)."""
    rows: list[tuple[str, str, str, str]] = []
    m = results["machine"]
    load = m.get("load_average") or ["?"]
    rows.append(
        (
            "machine",
            f"{m['cpu']}, {m['cores']} cores, {m['arch']}, Python {m['python']}, {m['os']}; load {load[0]} at start",
            "",
            "",
        )
    )
    imports = results.get("imports", {})
    if _na(imports):
        rows.append(("import time", _na(imports) or "", "", ""))
    elif imports:
        rows.append(("import time: where", imports["where"], "", ""))
        rows.extend(section_rows(imports))
        for label, figures in imports["comparison"].items():
            value = _na(figures) or f"{figures['ms']:.0f} ms = {figures['ratio_to_boto3']:.2f}x boto3 (bench env)"
            rows.append((f"import {label} (comparison)", value, "", ""))
    init = results.get("init", {})
    if _na(init):
        rows.append(("init + first invocation", _na(init) or "", "", ""))
    elif init:
        rows.extend(section_rows(init))
    assets = results.get("assets", {})
    if _na(assets):
        rows.append(("asset size", _na(assets) or "", "", ""))
    elif assets:
        rows.extend(goal_row(g) for g in assets["goals"])
    cost = results.get("cost", {})
    if _na(cost):
        rows.append(("cost per run", _na(cost) or "", "", ""))
    elif "goals" in cost:
        rows.extend(section_rows(cost))
    else:
        prices = cost["prices"]
        for name, run in cost["runs"].items():
            u, hop, usd = run["usage"], run["per_hop"], run["usd_per_1000_runs"]
            rows.append(
                (
                    f"refund {name}: per run",
                    f"{u['transitions']} transitions, {u['lambda_invocations']} Lambda ({u['orchestrator_invocations']}"
                    f" orch + {u['agent_invocations']} agent), {u['agent_hops']} hops",
                    "",
                    "",
                )
            )
            rows.append(
                (
                    f"refund {name}: DynamoDB",
                    f"{u['ddb_write_requests']} write requests ({u['ddb_items_written']} items,"
                    f" {u['ddb_bytes_written']} B, {u['ddb_wru']} WRU); {u['ddb_read_requests']} reads"
                    f" ({u['ddb_bytes_read']} B, {u['ddb_rru']} RRU)",
                    "",
                    "",
                )
            )
            rows.append(
                (
                    f"refund {name}: other calls",
                    f"Secrets Manager {sum(v for k, v in u['calls'].items() if k.startswith('secretsmanager'))},"
                    f" STS {sum(v for k, v in u['calls'].items() if k.startswith('sts'))},"
                    f" SQS {u['calls'].get('sqs:SendMessage', 0)}, SNS {u['calls'].get('sns:Publish', 0)},"
                    f" SSM {u['calls'].get('ssm:GetParameter', 0)}; max payload {u['max_payload_bytes']} B",
                    "",
                    "",
                )
            )
            hop_ok = hop["orchestrator_invocations"] <= 1 and hop["ddb_write_requests"] <= 2 and hop["transitions"] <= 4
            rows.append(
                (
                    f"refund {name}: per hop (average)",
                    f"{hop['orchestrator_invocations']} orch, {hop['ddb_write_requests']} DDB write requests"
                    f" ({hop['ddb_items_written']} items), {hop['transitions']} transitions",
                    "<= 1 orch, 2 writes, 4 transitions",
                    _goal(hop_ok),
                )
            )
            rows.append(
                (
                    f"refund {name}: USD / 1,000 runs",
                    f"${usd['total']:.4f} (Step Functions ${usd['stepfunctions']:.4f}, DynamoDB"
                    f" ${usd['dynamodb_writes'] + usd['dynamodb_reads'] + usd['dynamodb_storage']:.4f},"
                    f" Lambda ${usd['lambda_requests'] + usd['lambda_duration']:.4f})"
                    f" [{prices['region']}, {prices['as_of']}]",
                    "< $0.10",
                    _goal(usd["total"] < 0.10),
                )
            )
            express = run["usd_per_1000_runs_express"]
            rows.append(
                (
                    f"refund {name}: USD / 1,000 runs as Express",
                    f"${express['total']:.4f} (Step Functions ${express['stepfunctions']:.4f} for"
                    f" {u['execution_ms']:.0f} ms at 64 MB; the rest as above)",
                    "< $0.10",
                    _goal(express["total"] < 0.10),
                )
            )
    detector = results.get("detector", {})
    if _na(detector):
        rows.append(("injection detector", _na(detector) or "", "", ""))
    elif detector:
        rows.extend(section_rows(detector))
    models = results.get("models", {})
    if _na(models):
        rows.append(("model calls per run", _na(models) or "", "", ""))
    elif models:
        rows.extend(section_rows(models))
    growth = results.get("growth", {})
    lg = results.get("langgraph", {})
    if _na(growth):
        rows.append(("growth", _na(growth) or "", "", ""))
    elif "goals" in growth:
        rows.extend(section_rows(growth))
    else:
        writes = [g["ddb_bytes_written_per_step"] for g in growth.values()]
        flat = max(writes[1:] or writes) <= 1.1 * min(writes[1:] or writes)
        for steps, g in growth.items():
            compare = ""
            if not _na(lg) and steps in lg.get("overwrite", {}):
                compare = (
                    f"; LangGraph+SqliteSaver {lg['overwrite'][steps]['bytes_per_step']} B/step (overwrite),"
                    f" {lg['append'][steps]['bytes_per_step']} B/step (append)"
                )
            rows.append(
                (
                    f"growth {steps} steps",
                    f"{g['ddb_bytes_written_per_step']} B written/step, {g['ddb_bytes_read_per_step']} B read/step,"
                    f" {g['transitions_per_step']} transitions/step, {g['wall_seconds']} s{compare}",
                    "writes/step flat",
                    _goal(flat),
                )
            )
        if _na(lg):
            rows.append(("growth LangGraph", _na(lg) or "", "", ""))
        longest = growth[max(growth, key=int)]
        hop_ok = (
            longest["orchestrator_invocations_per_step"] <= 1.01
            and longest["ddb_write_requests_per_step"] <= 2.01
            and longest["transitions_per_step"] <= 4.01
        )
        rows.append(
            (
                f"per hop, marginal ({max(growth, key=int)}-step loop)",
                f"{longest['orchestrator_invocations_per_step']} orch, {longest['ddb_write_requests_per_step']} DDB"
                f" write requests ({longest['ddb_items_written_per_step']} items, {longest['ddb_wru_per_step']} WRU),"
                f" {longest['transitions_per_step']} transitions",
                "<= 1 orch, 2 writes, 4 transitions",
                _goal(hop_ok),
            )
        )
    scale = results.get("scale", {})
    if _na(scale):
        rows.append(("scale", _na(scale) or "", "", ""))
    elif "goals" in scale:
        rows.extend(section_rows(scale))
    else:
        ok = scale["status"] == "SUCCEEDED" and scale["tasks_succeeded"] == scale["tasks"]
        rows.append(
            (
                f"scale 1 stage x {scale['tasks']} tasks",
                f"{scale['status']}, {scale['tasks_succeeded']} tasks succeeded, {scale['wall_seconds']} s,"
                f" max payload {scale['max_payload_bytes']} B of {scale['payload_limit_bytes']}",
                "completes, payload << 256 KB",
                _goal(ok and scale["max_payload_bytes"] < scale["payload_limit_bytes"] / 10),
            )
        )
    speed = results.get("speed", {})
    if _na(speed):
        rows.append(("baton run refund", _na(speed) or "", "", ""))
    elif "goals" in speed:
        rows.extend(section_rows(speed))
    else:
        rows.append(
            (
                "baton run refund (process)",
                f"{speed['seconds_median']:.2f} s median of {speed['samples']}",
                "<= 2 s",
                _goal(speed["seconds_median"] <= 2),
            )
        )
    suite = results.get("suite", {})
    rows.append(
        (
            "test suite (pytest)",
            _na(suite) or f"{suite['seconds']} s, exit {suite['exit_code']}: {suite['summary']}",
            "",
            "",
        )
    )
    return rows


def print_table(results: dict[str, Any], out: Any = sys.stdout) -> None:
    rows = table(results)
    widths = [max(len(r[i]) for r in rows) for i in (0, 2)]
    print("bench", file=out)
    for figure, value, goal, verdict in rows:
        tail = f"   [{goal}: {verdict}]" if goal else ""
        print(f"  {figure:<{widths[0]}}  {value}{tail}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench.json")
    parser.add_argument("--bench-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    args = parser.parse_args(argv)
    results = run_sections(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    buffer = io.StringIO()
    print_table(results, buffer)
    print(buffer.getvalue(), end="")
    print(f"  figures  {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
