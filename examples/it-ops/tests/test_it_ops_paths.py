"""The seed's hierarchical example, end to end offline: the router's state machine starts each sub-workflow as a
child execution (states:startExecution.sync:2, moto patched in baton/local/moto_patches.py), each child a run of its
own workflow with its own agents, orchestrator and audit chain. Each test runs its own inputs, so each passes alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from baton.local.engine import LocalEngine
from baton.models import RunStatus, TaskStatus
from baton.runs import RunRecord, read_run, with_children
from baton.verification import verify_record

EXAMPLES = Path(__file__).resolve().parents[1]
ROOT = EXAMPLES.parents[1]


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return loaded


def children_of(engine: LocalEngine, record: RunRecord) -> dict[str, RunRecord]:
    return {child.workflow: child for child in with_children(engine.store, record).children}


def test_the_default_incident_goes_to_network_and_application_as_child_runs_naming_their_parent(
    baton_engine: LocalEngine,
) -> None:
    """Given the default incident (packet loss and an error rate on checkout-api)
    When it-ops runs it
    Then the router triages it and starts the network and application sub-workflows as child runs, each carrying
    parent_run_id (in its run record, its audit and its start) and the caller's identity, each result folded into
    the parent's context with the child's provenance, and every chain verifies on its own key."""
    record = baton_engine.run("it-ops", example("default.json"))
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert [(s.stage, s.agent, s.status) for s in record.steps] == [
        (1, "triage", TaskStatus.SUCCEEDED),
        (2, "network-incident", TaskStatus.SUCCEEDED),
        (2, "application-incident", TaskStatus.SUCCEEDED),
    ]
    children = children_of(baton_engine, record)
    assert sorted(children) == ["application-incident", "network-incident"]
    for step in record.steps[1:]:
        child = children[step.agent]
        assert step.child_run_id == child.run_id
        assert child.parent_run_id == record.run_id
        assert child.caller == record.caller
        started = child.audit[0]
        assert (started["kind"], started["detail"]["parent_run_id"]) == ("run_started", record.run_id)
        entry = record.context[step.key]
        assert (entry.source, entry.trusted, entry.value) == (f"workflow:{child.workflow}", True, child.result)
        meta = baton_engine.store.find_meta(child.run_id)
        assert meta is not None
        assert meta.budget is not None
        assert meta.parent_run_id == record.run_id
        assert verify_record(child.model_dump(mode="json"), baton_engine.public_key(child.workflow)).ok
        ended = [
            r["detail"]
            for r in record.audit
            if r["kind"] == "child_run_ended" and r["detail"]["child_run_id"] == child.run_id
        ]
        assert [(e["status"], e["audit_head"]) for e in ended] == [("SUCCEEDED", child.audit_head)]
    assert record.result is not None
    assert record.result["escalated"] is False
    assert record.result["resolved"]["network"]["link"] == "degraded"
    assert record.result["resolved"]["application"]["restart"]["ticket_id"]
    assert verify_record(record.model_dump(mode="json"), baton_engine.public_key("it-ops")).ok


def test_a_child_workflow_failing_is_a_failed_task_the_router_routes_on(baton_engine: LocalEngine) -> None:
    """Given an incident on billing-api, which the health registry does not know
    When it-ops runs it
    Then the application child run fails (its health check failed), the parent's step for it is a failed task
    (ChildRunFailed, naming the child run), the network child still succeeds, and the router's planner routes on the
    failure: it pages the on-call engineer and finishes, saying which sub-workflow failed."""
    record = baton_engine.run("it-ops", example("child-failing.json"))
    assert record.status is RunStatus.SUCCEEDED, record.reason
    by_agent = {s.agent: s for s in record.steps}
    failed = by_agent["application-incident"]
    assert (failed.status, failed.error_type) == (TaskStatus.FAILED, "ChildRunFailed")
    assert failed.child_run_id is not None
    assert failed.child_run_id in (failed.error or "")
    child = read_run(baton_engine.store, failed.child_run_id)
    assert child.status is RunStatus.FAILED
    assert "not in the health registry" in (child.reason or "")
    assert child.parent_run_id == record.run_id
    assert "application" not in record.context
    assert by_agent["network-incident"].status is TaskStatus.SUCCEEDED
    assert by_agent["escalation"].status is TaskStatus.SUCCEEDED
    assert record.result is not None
    assert (record.result["failed"], record.result["escalated"]) == (["application"], True)
    ended = {r["detail"]["child_run_id"]: r["detail"] for r in record.audit if r["kind"] == "child_run_ended"}
    assert ended[child.run_id]["status"] == "FAILED"
    assert ended[child.run_id]["audit_head"] == child.audit_head


def test_an_identity_incident_starts_only_the_identity_child(baton_engine: LocalEngine) -> None:
    record = baton_engine.run("it-ops", example("identity.json"))
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert [s.agent for s in record.steps] == ["triage", "identity-incident"]
    assert record.result is not None
    assert record.result["resolved"] == {"identity": {"sync": "stale"}}


def test_baton_run_json_lists_child_runs_and_out_verifies_each_chain(tmp_path: Path) -> None:
    """`baton run it-ops --json` lists each step's child run id and each child run with its parent_run_id; `--out`
    writes the child runs' records (and each child workflow's key), and `baton audit verify` checks each child's chain
    on its own key and that the parent's chain records each child's final head; an altered child head is caught."""
    baton = [sys.executable, "-m", "baton.cli"]
    out = tmp_path / "run.json"
    ran = subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [*baton, "run", "it-ops", "--input", str(EXAMPLES / "default.json"), "--json", "--out", str(out)],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["status"] == "SUCCEEDED"
    steps = {s["agent"]: s["child_run_id"] for s in summary["steps"]}
    assert steps["triage"] is None
    listed = {c["run_id"]: c for c in summary["child_runs"]}
    assert set(listed) == {steps["network-incident"], steps["application-incident"]}
    assert all(c["parent_run_id"] == summary["run_id"] and c["status"] == "SUCCEEDED" for c in listed.values())

    key = tmp_path / "run.json.key.pem"
    verified = subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [*baton, "audit", "verify", str(out), "--public-key", str(key)],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("the parent's chain records its final head") == 2

    record = json.loads(out.read_text())
    record["children"][0]["audit_head"] = "0" * 64
    out.write_text(json.dumps(record))
    tampered = subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [*baton, "audit", "verify", str(out), "--public-key", str(key)],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tampered.returncode == 1
    assert "NOT verified" in tampered.stdout


@pytest.mark.parametrize("name", ["default.json", "identity.json", "child-failing.json"])
def test_every_example_input_is_valid(name: str) -> None:
    from it_ops_app.models import Incident

    Incident.model_validate(example(name))
