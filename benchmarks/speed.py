"""Offline speed: `baton run refund` as a whole process, beside `python -c "import boto3"`, and the whole test suite."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUN_LIMIT_SECONDS = 1.2  # goal: the whole `baton run refund` process


def _goal(name: str, value: float, limit: float, unit: str, baseline: float, baseline_name: str) -> dict[str, Any]:
    try:
        from benchmarks.bench import goal
    except ImportError:  # the shared helper is not there: the same keys, by hand
        return {
            "goal": name,
            "value": round(value, 3),
            "unit": unit,
            "limit": limit,
            "baseline": round(baseline, 3),
            "baseline_name": baseline_name,
            "ratio": round(value / baseline, 3),
            "met": value <= limit,
        }
    return goal(name, value, limit, unit, baseline, baseline_name)


def _process_seconds(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def _with_bytecode() -> dict[str, str]:
    """This environment, writing bytecode: an installed Baton runs from it (pip compiles at install), and a shell
    with PYTHONDONTWRITEBYTECODE set would otherwise time the compilation of every edited module at each run."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def bench_baton_run(repeats: int = 5) -> dict[str, Any]:
    """`baton run refund --input examples/refund/default.json --json` as a whole process (interpreter start-up,
    imports, the offline deployment, the run, exit), and `python -c "import boto3"` the same way, alternately in
    the same run, after one untimed run that writes the modules' bytecode: the goal is the run's median, its ratio
    to boto3's the baseline."""
    run = [str(BIN / "baton"), "run", "refund", "--input", "examples/refund/default.json", "--json"]
    boto3 = [sys.executable, "-c", "import boto3"]
    samples: list[float] = []
    baseline: list[float] = []
    _process_seconds(run, _with_bytecode())  # untimed: writes the bytecode of the modules the run imports
    for _ in range(repeats):
        seconds, done = _process_seconds(boto3)
        baseline.append(seconds)
        seconds, done = _process_seconds(run)
        samples.append(seconds)
        if done.returncode != 0:
            return {"na": f"baton run exited {done.returncode}: {done.stderr.strip()[-200:]}"}
    median = statistics.median(samples)
    boto3_median = statistics.median(baseline)
    return {
        "seconds_median": round(median, 2),
        "samples": [round(s, 2) for s in samples],
        "import_boto3_seconds_median": round(boto3_median, 3),
        "import_boto3_samples": [round(s, 3) for s in baseline],
        "goals": [
            _goal(
                "baton run refund (whole process)",
                median,
                RUN_LIMIT_SECONDS,
                "s",
                boto3_median,
                'python -c "import boto3"',
            )
        ],
        "notes": [
            ("baton run refund: samples", ", ".join(f"{s:.2f} s" for s in samples)),
            ('python -c "import boto3": samples', ", ".join(f"{s:.2f} s" for s in baseline)),
        ],
    }


def bench_test_suite() -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:randomly"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    return {"seconds": round(time.perf_counter() - started, 1), "exit_code": done.returncode, "summary": summary}
