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
SCALE_LIMIT_SECONDS = 10.0  # goal: a 1,000-task stage offline (a --quick run's smaller stage is held to it too)
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


def _scale_goal(name: str, value: float, limit: float, unit: str, **options: Any) -> dict[str, Any]:
    try:
        from benchmarks.bench import goal
    except ImportError:  # the shared helper is not there: the same keys, by hand
        baseline = options.get("baseline")
        higher = options.get("higher_is_better", False)
        return {
            "goal": name,
            "value": round(value, 3),
            "unit": unit,
            "limit": limit,
            "baseline": baseline,
            "baseline_name": options.get("baseline_name"),
            "ratio": round(value / baseline, 3) if baseline else None,
            "met": value >= limit if higher else value <= limit,
        }
    return goal(name, value, limit, unit, **options)


def _stage(engine: LocalEngine, tasks: int) -> tuple[str, Any, float]:
    """One run of one stage of `tasks` tasks: its id, its record and the seconds from start to the record read."""
    started = time.perf_counter()
    run_id = engine.start("loop", {"steps": 1, "width": tasks, "payload_bytes": PAYLOAD_BYTES})
    record = engine.wait(run_id, timeout_seconds=3600)
    return run_id, record, time.perf_counter() - started


def bench_scale(tasks: int = SCALE_TASKS) -> dict[str, Any]:
    """One concurrent stage of `tasks` tasks (goal for 1,000: under 10 s offline, from the start of the run to
    its record read back). Baseline, in the same engine just before: the same workflow with a 1-task stage.
    Metering the run afterwards (reading its ~19 history events per task back through moto) is timed apart."""
    meter = Meter()
    with LocalEngine(CATALOG, wrap_handler=meter.wrap, on_call=meter.on_call) as engine:
        _, _, one_task = _stage(engine, 1)
        mark = meter.mark()
        run_id, record, wall = _stage(engine, tasks)
        metering_started = time.perf_counter()
        usage = meter.usage_since(mark, engine, run_id, "loop")
        metering = time.perf_counter() - metering_started
    succeeded = sum(step.status.value == "succeeded" for step in record.steps)
    payload_limit = 256 * 1024
    return {
        "tasks": tasks,
        "status": record.status.value,
        "tasks_succeeded": succeeded,
        "wall_seconds": round(wall, 2),
        "one_task_stage_seconds": round(one_task, 3),
        "metering_seconds": round(metering, 2),
        "max_payload_bytes": usage.max_payload_bytes,
        "payload_limit_bytes": payload_limit,
        "transitions": usage.transitions,
        "lambda_invocations": usage.lambda_invocations,
        "ddb_items_written": usage.ddb_items_written,
        "history_events": usage.history_events,
        "goals": [
            _scale_goal(
                f"scale: 1 stage x {tasks} tasks, offline",
                wall,
                SCALE_LIMIT_SECONDS,
                "s",
                baseline=one_task,
                baseline_name="a 1-task stage, same engine",
            ),
            _scale_goal(
                f"scale: tasks succeeded of {tasks}, in a SUCCEEDED run",
                succeeded if record.status.value == "SUCCEEDED" else 0,
                tasks,
                "tasks",
                higher_is_better=True,
            ),
            _scale_goal("scale: largest Step Functions payload", usage.max_payload_bytes, payload_limit // 10, "B"),
        ],
        "notes": [
            ("scale: run status", record.status.value),
            ("scale: metering the run (its history read back), apart", f"{metering:.1f} s"),
            (
                "scale: per run",
                f"{usage.transitions} transitions, {usage.lambda_invocations} Lambda invocations,"
                f" {usage.ddb_items_written} DynamoDB items written, {usage.history_events} history events",
            ),
        ],
    }
