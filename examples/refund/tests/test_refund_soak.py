"""The short soak (part of `make test`): 50 refund runs with 20% of agent invocations faulted lose nothing.

`make soak` runs the same driver with 1,000 runs (benchmarks/soak.py).
"""

from __future__ import annotations

import io

import pytest

from baton.local.engine import LocalEngine
from baton.local.faults import FaultInjector, FaultKind, soak_plan
from baton.observability import logs_to
from benchmarks.soak import print_report, run_soak


@pytest.mark.slow
def test_fifty_faulted_refund_runs_all_end_with_no_double_refund_and_intact_audit() -> None:
    # Given the reference catalog deployed offline, with every agent's invocations faulted at 20%
    # (exceptions, timeouts after the work, throttles, malformed reported output, double delivery)
    injector = FaultInjector(soak_plan(rate=0.2, seed=4))
    logs = io.StringIO()
    # When 50 refund runs (six in ten eligible, each on its own order) run concurrently
    with logs_to(logs), LocalEngine("refund_app.catalog:CATALOG", wrap_handler=injector) as engine:
        report = run_soak(engine, injector, runs=50, batch=50, timeout_seconds=120)
    summary = io.StringIO()
    print_report(report, summary)
    # Then every run ended SUCCEEDED, or FAILED with a reason, none left RUNNING; every audit trail verifies
    # against the workflow's signing key; the payment
    # provider never refunded a payment twice nor an order the policy refuses, and what runs report
    # as refunded is what the provider's ledger holds
    assert report.problems == [], summary.getvalue()
    assert sum(report.statuses.values()) == 50
    assert set(report.statuses) <= {"SUCCEEDED", "FAILED"}
    assert report.outcomes["refunded"] > 0
    # and the faults really were injected, of every kind
    assert 0.1 < report.fault_rate < 0.3, summary.getvalue()
    assert set(report.faults) == {kind.value for kind in FaultKind}, summary.getvalue()
