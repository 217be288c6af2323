"""Growth and scale on the synthetic loop (benchmarks/synthetic.py).

Growth: one run each of 1, 10, 100 and 1,000 sequential steps; bytes written to (and read from)
DynamoDB per step. Writes per step must stay flat. Scale: one concurrent stage of 1,000 tasks; the
largest Step Functions payload seen (state input/output, task parameters/results) and the wall time.
"""

from __future__ import annotations

import time
from typing import Any

from baton.local.engine import LocalEngine
from benchmarks.measure import Meter, measure_run

CATALOG = "benchmarks.synthetic:CATALOG"
LENGTHS = (1, 10, 100, 1000)
SCALE_TASKS = 1000
PAYLOAD_BYTES = 100


def bench_growth(lengths: tuple[int, ...] = LENGTHS) -> dict[str, Any]:
    meter = Meter()
    out: dict[str, Any] = {}
    with LocalEngine(CATALOG, wrap_handler=meter.wrap, on_call=meter.on_call) as engine:
        for steps in lengths:
            started = time.perf_counter()
            usage, record = measure_run(
                engine, meter, "loop", {"steps": steps, "payload_bytes": PAYLOAD_BYTES}, timeout=3600
            )
            out[str(steps)] = {
                "status": record.status.value,
                "wall_seconds": round(time.perf_counter() - started, 2),
                "ddb_bytes_written_per_step": round(usage.ddb_bytes_written / steps),
                "ddb_items_written_per_step": round(usage.ddb_items_written / steps, 2),
                "ddb_wru_per_step": round(usage.ddb_wru / steps, 2),
                "ddb_bytes_read_per_step": round(usage.ddb_bytes_read / steps),
                "transitions_per_step": round(usage.transitions / steps, 2),
                "orchestrator_invocations_per_step": round(usage.orchestrator_invocations / steps, 2),
                "ddb_write_requests_per_step": round(usage.ddb_write_requests / steps, 2),
                "max_payload_bytes": usage.max_payload_bytes,
            }
    return out


def bench_scale(tasks: int = SCALE_TASKS) -> dict[str, Any]:
    meter = Meter()
    with LocalEngine(CATALOG, wrap_handler=meter.wrap, on_call=meter.on_call) as engine:
        started = time.perf_counter()
        usage, record = measure_run(
            engine, meter, "loop", {"steps": 1, "width": tasks, "payload_bytes": PAYLOAD_BYTES}, timeout=3600
        )
        wall = time.perf_counter() - started
    succeeded = sum(step.status.value == "succeeded" for step in record.steps)
    return {
        "tasks": tasks,
        "status": record.status.value,
        "tasks_succeeded": succeeded,
        "wall_seconds": round(wall, 1),
        "max_payload_bytes": usage.max_payload_bytes,
        "payload_limit_bytes": 256 * 1024,
        "transitions": usage.transitions,
        "lambda_invocations": usage.lambda_invocations,
        "ddb_items_written": usage.ddb_items_written,
        "history_events": usage.history_events,
    }
