"""The soak: many refund runs, offline, with a share of agent invocations faulted; nothing may be lost.

Checked for every run: it ends SUCCEEDED, or FAILED with a reason (its run record in the state table, not
only the execution, has left RUNNING: no run is ever left RUNNING once its execution ends); its audit trail
verifies against the workflow's signing key (every head signed, the last one final). Checked for
the whole soak: the fake payment provider never holds two refunds for one payment, never refunds an order
the policy refuses, and every refund a run reports is the one in the provider's ledger.

  python -m benchmarks.soak [--runs 1000] [--rate 0.2] [--batch 100] [--seed 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict

from baton.local.engine import LocalEngine
from baton.local.faults import FaultInjector, soak_plan
from baton.models import RunStatus
from baton.observability import logs_to
from baton.verification import verify_record
from refund_app.offline import FakePaymentProvider

Expectation = Literal["eligible", "window_expired", "needs_review", "provider_outage", "unknown_order"]
# one in ten runs of each unhappy kind, six in ten eligible (each on its own order)
MIX: tuple[Expectation, ...] = (
    *(("eligible",) * 6),
    "window_expired",
    "needs_review",
    "provider_outage",
    "unknown_order",
)
OUTAGE_ORDER = "ORD-1003"  # seed.json: the provider answers 503 for its payment


class SoakCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int
    expect: Expectation
    order_id: str
    payment_id: str | None


def soak_cases(runs: int) -> list[SoakCase]:
    cases = []
    for number in range(runs):
        expect = MIX[number % len(MIX)]
        if expect == "provider_outage":
            cases.append(SoakCase(number=number, expect=expect, order_id=OUTAGE_ORDER, payment_id="pay_1003"))
        elif expect == "unknown_order":
            cases.append(SoakCase(number=number, expect=expect, order_id=f"ORD-9{number:07d}", payment_id=None))
        else:
            cases.append(
                SoakCase(number=number, expect=expect, order_id=f"ORD-5{number:07d}", payment_id=f"pay_soak_{number}")
            )
    return cases


def seed_orders(engine: LocalEngine, cases: list[SoakCase]) -> None:
    """One order per case (except the seeded outage order and the unknown ones) in the orders table."""
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    ddb = engine.clients.client("dynamodb")
    for case in cases:
        if case.expect in ("provider_outage", "unknown_order") or case.payment_id is None:
            continue
        days = 60 if case.expect == "window_expired" else 3
        amount = 75_000 if case.expect == "needs_review" else 1_000 + case.number
        ddb.put_item(
            TableName=engine.physical_ids["orders"],
            Item={
                "order_id": {"S": case.order_id},
                "customer_id": {"S": f"CUST-{case.number + 1}"},
                "payment_id": {"S": case.payment_id},
                "amount_cents": {"N": str(amount)},
                "currency": {"S": "USD"},
                "category": {"S": "apparel"},
                "delivered_on": {"S": (today - timedelta(days=days)).isoformat()},
            },
        )


@dataclass
class SoakReport:
    runs: int = 0
    wall_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    agent_deliveries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    left_running: list[str] = field(default_factory=list)
    failed_without_reason: list[str] = field(default_factory=list)
    broken_chains: list[str] = field(default_factory=list)
    double_refunds: list[str] = field(default_factory=list)
    refunds_of_refused_orders: list[str] = field(default_factory=list)
    reported_refund_mismatches: list[str] = field(default_factory=list)
    refunded_but_escalated: int = 0
    refunded_but_failed: int = 0
    audit_records: int = 0

    @property
    def fault_rate(self) -> float:
        return sum(self.faults.values()) / self.agent_deliveries if self.agent_deliveries else 0.0

    @property
    def problems(self) -> list[str]:
        checks = {
            "left running": self.left_running,
            "failed without a reason": self.failed_without_reason,
            "audit chain broken": self.broken_chains,
            "two refunds for one payment": self.double_refunds,
            "refund of an order the policy refuses": self.refunds_of_refused_orders,
            "reported refund differs from the ledger": self.reported_refund_mismatches,
        }
        return [f"{label}: {items[:5]}" for label, items in checks.items() if items]

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "wall_seconds": round(self.wall_seconds, 2),
            "statuses": dict(self.statuses),
            "outcomes": dict(self.outcomes),
            "agent_deliveries": self.agent_deliveries,
            "faults": dict(self.faults),
            "fault_rate": round(self.fault_rate, 4),
            "audit_records_verified": self.audit_records,
            "refunded_but_reported_escalated": self.refunded_but_escalated,
            "refunded_but_run_failed": self.refunded_but_failed,
            "problems": self.problems,
        }


def run_soak(
    engine: LocalEngine,
    injector: FaultInjector,
    runs: int,
    batch: int = 50,
    timeout_seconds: float = 300,
    progress: IO[str] | None = None,
) -> SoakReport:
    """Run `runs` refund runs, `batch` at a time concurrently, and check every invariant."""
    cases = soak_cases(runs)
    seed_orders(engine, cases)
    provider: FakePaymentProvider = engine.fixtures["refund"]
    public_key = engine.public_key("refund")
    report = SoakReport(runs=runs)
    results: list[tuple[SoakCase, str, dict[str, Any] | None]] = []
    started = time.perf_counter()
    for first in range(0, runs, batch):
        chunk = cases[first : first + batch]
        run_ids = [engine.start("refund", {"order_id": c.order_id, "reason": f"soak {c.number}"}) for c in chunk]
        for case, run_id in zip(chunk, run_ids, strict=True):
            record = engine.wait(run_id, timeout_seconds=timeout_seconds)
            meta = engine.store.load_meta(run_id)
            report.statuses[meta.status.value] += 1
            if meta.status is RunStatus.RUNNING:
                report.left_running.append(run_id)
            if meta.status is RunStatus.FAILED and not meta.reason:
                report.failed_without_reason.append(run_id)
            verification = verify_record(record.model_dump(mode="json"), public_key)
            report.audit_records += verification.records
            if not verification.ok:
                report.broken_chains.append(f"{run_id}: {verification.problems[0]}")
            outcome = str(record.result.get("outcome")) if record.result else f"failed ({case.expect})"
            report.outcomes[outcome] += 1
            results.append((case, run_id, record.result))
        if progress is not None:
            done = first + len(chunk)
            print(f"  {done:>5}/{runs} runs  {time.perf_counter() - started:7.1f} s", file=progress, flush=True)
    report.wall_seconds = time.perf_counter() - started
    _check_ledger(report, provider, results)
    report.agent_deliveries = injector.deliveries
    report.faults = Counter({kind.value: n for kind, n in injector.counts.items()})
    return report


def _check_ledger(
    report: SoakReport, provider: FakePaymentProvider, results: list[tuple[SoakCase, str, dict[str, Any] | None]]
) -> None:
    per_payment = Counter(str(refund["payment_id"]) for refund in provider.ledger.values())
    report.double_refunds = sorted(p for p, n in per_payment.items() if n > 1)
    for case, run_id, result in results:
        refunds = provider.refunds_for(case.payment_id) if case.payment_id else []
        if case.expect != "eligible":
            if refunds:
                report.refunds_of_refused_orders.append(f"{run_id} ({case.expect})")
            continue
        outcome = result.get("outcome") if result else None
        if outcome == "refunded":
            if [r["refund_id"] for r in refunds] != [result.get("refund_id") if result else None]:
                report.reported_refund_mismatches.append(run_id)
        elif refunds and outcome == "escalated":
            report.refunded_but_escalated += 1  # the refund happened; a human has the case
        elif refunds:
            report.refunded_but_failed += 1


def print_report(report: SoakReport, out: IO[str]) -> None:
    rows = [
        ("runs", f"{report.runs}"),
        ("wall time", f"{report.wall_seconds:.1f} s ({report.wall_seconds / max(report.runs, 1) * 1000:.0f} ms/run)"),
        ("statuses", ", ".join(f"{k} {v}" for k, v in sorted(report.statuses.items()))),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items()))),
        ("agent deliveries", f"{report.agent_deliveries}"),
        ("faults injected", f"{sum(report.faults.values())} ({report.fault_rate:.1%})"),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items()))),
        ("left running", f"{len(report.left_running)}"),
        ("FAILED without reason", f"{len(report.failed_without_reason)}"),
        (
            "audit chains verified",
            f"{report.runs - len(report.broken_chains)}/{report.runs} ({report.audit_records} records)",
        ),
        ("two refunds, one payment", f"{len(report.double_refunds)}"),
        ("refunds of refused orders", f"{len(report.refunds_of_refused_orders)}"),
        ("reported != ledger", f"{len(report.reported_refund_mismatches)}"),
        (
            "refunded, then escalated",
            f"{report.refunded_but_escalated} (malformed output after the refund: a human has the case)",
        ),
        ("refunded, run FAILED", f"{report.refunded_but_failed}"),
    ]
    width = max(len(label) for label, _ in rows)
    print("soak", file=out)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}", file=out)
    print("  verdict  " + ("PASS" if not report.problems else "FAIL: " + "; ".join(report.problems)), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.2, help="share of agent invocations faulted")
    parser.add_argument("--batch", type=int, default=100, help="runs started concurrently")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/soak.json"))
    args = parser.parse_args(argv)
    injector = FaultInjector(soak_plan(args.rate, args.seed))
    print(f"soak: {args.runs} refund runs, {args.rate:.0%} of agent invocations faulted, {args.batch} at a time")
    log_path = Path(".baton/logs/soak.jsonl")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with log_path.open("w") as logs, logs_to(logs), LocalEngine(wrap_handler=injector) as engine:
        report = run_soak(engine, injector, args.runs, args.batch, progress=terminal)
    print_report(report, sys.stdout)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    print(f"  figures  {args.json}")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
