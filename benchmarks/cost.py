"""Cost per run: what one run of each reference workflow asks of AWS, priced per 1,000 runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from baton.local.engine import LocalEngine
from baton.local.functions import agent_function_name, orchestrator_function_name
from benchmarks.measure import Meter, Usage, measure_run

ROOT = Path(__file__).resolve().parent.parent
PRICES_FILE = Path(__file__).with_name("aws_prices.json")
RETENTION_MONTHS = 1.0  # runs expire after the workflow's retention (30 days by default)


class Prices(BaseModel):
    model_config = ConfigDict(extra="ignore")

    as_of: str
    region: str
    stepfunctions_standard_per_state_transition: float
    stepfunctions_express_per_request: float
    stepfunctions_express_per_gb_second: float
    stepfunctions_express_billed_memory_mb: int
    stepfunctions_express_billing_increment_ms: int
    lambda_per_request: float
    lambda_arm64_per_gb_second: float
    dynamodb_on_demand_per_write_request_unit: float
    dynamodb_on_demand_per_read_request_unit: float
    dynamodb_storage_per_gb_month: float
    secretsmanager_per_api_call: float
    sts_per_api_call: float
    sqs_standard_per_request: float
    sns_standard_per_publish: float
    ssm_parameter_standard_per_api_call: float
    kms_asymmetric_per_request: float
    s3_put_per_request: float


def load_prices() -> Prices:
    return Prices.model_validate_json(PRICES_FILE.read_text())


def stepfunctions_price(usage: Usage, prices: Prices, execution: str) -> float:
    """One run's Step Functions charge: per state transition (Standard), or per request and duration (Express)."""
    if execution == "standard":
        return usage.transitions * prices.stepfunctions_standard_per_state_transition
    increment = prices.stepfunctions_express_billing_increment_ms
    billed_seconds = math.ceil(max(usage.execution_ms, 1) / increment) * increment / 1000
    gb_seconds = billed_seconds * prices.stepfunctions_express_billed_memory_mb / 1024
    return prices.stepfunctions_express_per_request + gb_seconds * prices.stepfunctions_express_per_gb_second


ARCHIVE_BATCH_WINDOW_MS = 60_000


def _archive_batches(usage: Usage) -> int:
    return max(1, math.ceil(usage.execution_ms / ARCHIVE_BATCH_WINDOW_MS)) if usage.commits else 0


def price_per_1000(usage: Usage, prices: Prices, execution: str = "standard") -> dict[str, float]:
    calls = usage.calls
    lines = {
        "stepfunctions": stepfunctions_price(usage, prices, execution),
        "lambda_requests": usage.lambda_invocations * prices.lambda_per_request,
        "lambda_duration": usage.lambda_gb_seconds * prices.lambda_arm64_per_gb_second,
        "dynamodb_writes": usage.ddb_wru * prices.dynamodb_on_demand_per_write_request_unit,
        "dynamodb_reads": usage.ddb_rru * prices.dynamodb_on_demand_per_read_request_unit,
        "dynamodb_storage": usage.ddb_bytes_written / 1024**3 * prices.dynamodb_storage_per_gb_month * RETENTION_MONTHS,
        "secretsmanager": usage.secretsmanager_calls * prices.secretsmanager_per_api_call,
        "sts": usage.sts_calls * prices.sts_per_api_call,
        "sqs": sum(n for k, n in calls.items() if k.startswith("sqs:")) * prices.sqs_standard_per_request,
        "sns": sum(n for k, n in calls.items() if k.startswith("sns:")) * prices.sns_standard_per_publish,
        "ssm": sum(n for k, n in calls.items() if k.startswith("ssm:")) * prices.ssm_parameter_standard_per_api_call,
        # the orchestrator signs each commit's audit head
        "kms": sum(n for k, n in calls.items() if k.startswith("kms:")) * prices.kms_asymmetric_per_request,
        # the archiver writes one object per run per stream batch (60 s batching window): a run shorter than the
        # window is archived in one object (moto's streams do not run the archiver offline: counted, as on AWS)
        "archive_puts": _archive_batches(usage) * prices.s3_put_per_request,
        "archiver_lambda": _archive_batches(usage) * prices.lambda_per_request,
    }
    per_1000 = {k: v * 1000 for k, v in lines.items()}
    per_1000["total"] = sum(per_1000.values())
    return per_1000


def memory_of(engine: LocalEngine) -> dict[str, int]:
    memory = {agent_function_name(a.name): a.memory_mb for a in engine.catalog.agents.values()}
    memory |= {orchestrator_function_name(w): 512 for w in engine.catalog.workflows}  # as the stack deploys it
    return memory


def bench_cost(examples: dict[str, Path] | None = None) -> dict[str, Any]:
    """Runs each refund example once (after a warm-up run) and prices it."""
    examples = examples or {p.stem: p for p in sorted((ROOT / "examples" / "refund").glob("*.json"))}
    prices = load_prices()
    meter = Meter()
    results: dict[str, Any] = {"prices": {"as_of": prices.as_of, "region": prices.region}, "runs": {}}
    with LocalEngine(wrap_handler=meter.wrap, on_call=meter.on_call) as engine:
        meter.memory_mb = memory_of(engine)  # known only once the catalog is loaded
        measure_run(engine, meter, "refund", {"order_id": "ORD-1002"})  # warm-up: first-call costs
        for name, path in examples.items():
            usage, record = measure_run(engine, meter, "refund", json.loads(path.read_text()))
            hops = max(usage.agent_hops, 1)
            results["runs"][name] = {
                "status": record.status.value,
                "usage": usage.as_json(),
                "per_hop": {
                    "orchestrator_invocations": round(usage.orchestrator_invocations / hops, 2),
                    "ddb_write_requests": round(usage.ddb_write_requests / hops, 2),
                    "ddb_items_written": round(usage.ddb_items_written / hops, 2),
                    "transitions": round(usage.transitions / hops, 2),
                },
                "usd_per_1000_runs": {k: round(v, 5) for k, v in price_per_1000(usage, prices).items()},
                # the same run on an Express state machine (WorkflowSpec.execution="express")
                "usd_per_1000_runs_express": {
                    k: round(v, 5) for k, v in price_per_1000(usage, prices, "express").items()
                },
            }
    return results
