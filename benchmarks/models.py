"""Model calls, tokens and their estimated cost per run: each support-triage example once, offline, on the app's
model doubles (their token counts are the doubles' estimates of what the prompts would cost, not a model's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from baton.local.engine import LocalEngine
from benchmarks.cost import load_prices, memory_of, price_per_1000
from benchmarks.measure import Meter, measure_run

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = "support-triage"


def bench_models(examples: dict[str, Path] | None = None) -> dict[str, Any]:
    examples = examples or {p.stem: p for p in sorted((ROOT / "examples" / WORKFLOW).glob("*.json"))}
    prices = load_prices()
    meter = Meter()
    runs: dict[str, Any] = {}
    notes: list[list[str]] = []
    with LocalEngine(wrap_handler=meter.wrap, on_call=meter.on_call) as engine:
        meter.memory_mb = memory_of(engine)
        for name, path in examples.items():
            usage, record = measure_run(engine, meter, WORKFLOW, json.loads(path.read_text()))
            model, cost = record.model_usage, record.model_cost
            aws = price_per_1000(usage, prices)
            runs[name] = {
                "status": record.status.value,
                "model_calls": model.calls,
                "input_tokens": model.input_tokens,
                "output_tokens": model.output_tokens,
                "model_usd_per_run": None if cost is None else cost.usd,
                "model_prices_as_of": None if cost is None else cost.prices_as_of,
                "aws_usd_per_1000_runs": round(sum(aws.values()), 5),
                "transitions": usage.transitions,
            }
            model_usd = "unpriced" if cost is None else f"${cost.usd:.4f} (prices of {cost.prices_as_of})"
            notes.append(
                [
                    f"{WORKFLOW} {name}: models per run",
                    f"{record.status.value}; {model.calls} calls, {model.input_tokens:,} input + "
                    f"{model.output_tokens:,} output tokens, {model_usd}; AWS besides "
                    f"${runs[name]['aws_usd_per_1000_runs']:.4f} / 1,000 runs ({usage.transitions} transitions)",
                ]
            )
    return {"runs": runs, "goals": [], "notes": notes}
