"""Offline speed: `baton run refund` as a whole process, and the whole test suite."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def bench_baton_run(repeats: int = 3) -> dict[str, Any]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "baton"), "run", "refund", "--input", "examples/refund/default.json", "--json"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            return {"na": f"baton run exited {done.returncode}: {done.stderr.strip()[-200:]}"}
    return {"seconds_median": round(statistics.median(samples), 2), "samples": [round(s, 2) for s in samples]}


def bench_test_suite() -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:randomly"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    return {"seconds": round(time.perf_counter() - started, 1), "exit_code": done.returncode, "summary": summary}
