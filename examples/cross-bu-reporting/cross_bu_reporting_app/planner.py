"""The planners of both business units: a step each for A, two sequential steps for B."""

from __future__ import annotations

from typing import ClassVar

from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskStatus


class SalesSummaryPlanner:
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "sales_summary", "summarize the quarter"),
        ("sales_summary", "fail", "no sales for the quarter"),
        ("sales_summary", "finish", "summary ready"),
    )

    def decide(self, run: RunView) -> Decision:
        summary = run.latest("sales_summary")
        if summary is None:
            return Delegate(tasks=[Task(agent="sales_summary")], reason="summarize the quarter")
        if summary.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"sales summary failed: {summary.error}")
        value = run.value("sales_summary")
        assert isinstance(value, dict)  # noqa: S101 - the agent's output model is an object
        return Finish(result=value)


class CrossBuReportingPlanner:
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "peer_sales", "ask business unit A's API for its summary"),
        ("peer_sales", "fail", "the peer refused, timed out or answered garbage"),
        ("peer_sales", "consolidation", "peer summary received (untrusted, schema-validated)"),
        ("consolidation", "fail", "consolidation failed"),
        ("consolidation", "finish", "consolidated report"),
    )

    def decide(self, run: RunView) -> Decision:
        peer = run.latest("peer_sales")
        if peer is None:
            return Delegate(tasks=[Task(agent="peer_sales")], reason="ask business unit A for its summary")
        if peer.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"business unit A's summary could not be obtained: {peer.error}")
        report = run.latest("consolidation")
        if report is None:
            return Delegate(tasks=[Task(agent="consolidation")], reason="consolidate both units")
        if report.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"consolidation failed: {report.error}")
        value = run.value("consolidation")
        assert isinstance(value, dict)  # noqa: S101 - the agent's output model is an object
        return Finish(result={**value, "peer_data_trusted": False})
