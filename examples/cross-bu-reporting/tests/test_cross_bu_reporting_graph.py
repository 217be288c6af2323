"""`baton graph cross-bu-reporting` draws the federated pattern: the peer tool, its egress, its secret, and the
peer's workflow it reaches under the peer's role."""

from __future__ import annotations

from baton.graph import mermaid
from cross_bu_reporting_app.catalog import CATALOG


def test_graph_draws_the_peer_workflow_and_its_role() -> None:
    drawn = mermaid(CATALOG, "cross-bu-reporting")
    assert '[["peer workflow: sales-summary (untrusted)"]]' in drawn
    assert '-->|"SigV4 as bu-a-sales-summary-peer, external id"| peer_sales_summary' in drawn
    assert '"egress: sales-api.bu-a.example"' in drawn
    assert '"fetch_bu_a_summary: untrusted output"' in drawn
