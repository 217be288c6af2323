"""Where a test blocks sockets (pytest-socket, as Baton's own suites run), the peer bridge answers in-process, with
the same checks: the workflow still succeeds, and an untrusted caller is still refused."""

from __future__ import annotations

from baton.local.engine import LocalEngine
from baton.local.peer_bridge import PeerBridge
from baton.models import RunStatus

CATALOG = "cross_bu_reporting_app.catalog:CATALOG"
WORKFLOW = "cross-bu-reporting"


def test_bridge_answers_in_process_when_sockets_are_blocked() -> None:
    with LocalEngine(CATALOG) as engine:
        bridge = engine.fixtures[WORKFLOW]["bridge"]
        assert isinstance(bridge, PeerBridge)
        assert bridge.transport == "in-process"
        served = engine.run(WORKFLOW, {"quarter": "2026-Q3"}, timeout_seconds=90)
        bridge.principals = dict.fromkeys(bridge.principals, "arn:aws:iam::222222222222:role/bu-b-intern")
        refused = engine.run(WORKFLOW, {"quarter": "2026-Q2"}, timeout_seconds=90)
    assert served.status is RunStatus.SUCCEEDED, served.reason
    assert refused.status is RunStatus.FAILED
    assert "refused this caller (403)" in (refused.reason or "")
    assert bridge.received[-1].reason == "the role's trust policy does not admit the caller"
