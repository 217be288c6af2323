"""Child runs, orchestrator by orchestrator, on the in-memory store (no moto): what the parent writes for a child, the
budget it draws down, how a child's end is folded back, and a run stored before schema version 5 finishing."""

from __future__ import annotations

from typing import Any

from baton.children import child_run_id
from baton.models import PlanRequest, RunStatus, TaskInput, TaskStatus
from baton.orchestrator import Orchestrator
from baton.planner import load_planner
from baton.runs import RunStarter
from baton.store import SCHEMA_VERSION, StartRequest
from baton.testing.memory_store import InMemoryStateStore, LocalHeadSigner
from it_ops_app.catalog import CATALOG
from it_ops_app.models import Triage
from tests.unit.harness import CALLER, Harness, NoExecutions, execution_of

MACHINES = {
    name: f"arn:aws:states:us-east-1:123456789012:stateMachine:baton-{name}"
    for name in ("network-incident", "identity-incident", "application-incident")
}
INCIDENT = {"incident_id": "INC-2001", "service": "checkout-api", "symptoms": ["packet_loss", "error_rate"]}


class Tree:
    """The router and its children's orchestrators on one store, the state machine's part played by hand."""

    def __init__(self, max_stages: int | None = None) -> None:
        root = CATALOG.workflow("it-ops")
        if max_stages is not None:
            root = root.model_copy(update={"budgets": root.budgets.model_copy(update={"max_stages": max_stages})})
        self.store = InMemoryStateStore()
        self.signer = LocalHeadSigner()
        self.root = Orchestrator(
            CATALOG,
            root,
            self.store,
            load_planner(root),
            {a: f"fn-{a}" for a in root.agents},
            self.signer,
            child_machines=MACHINES,
        )
        self.children = {
            name: Harness(load_planner(CATALOG.workflow(name)), name, CATALOG, store=self.store)  # type: ignore[arg-type]
            for name in MACHINES
        }
        self.run_id = RunStarter(CATALOG.workflows, self.store, NoExecutions()).start("it-ops", INCIDENT, CALLER).run_id

    def plan(self, stage: int) -> Any:
        execution = execution_of(self.run_id, "it-ops")
        return self.root.plan(PlanRequest(run_id=self.run_id, stage=stage, execution=execution))

    def triage(self) -> None:
        self.plan(0)
        triage = Triage(categories=["network", "application"], severity="high").model_dump()
        self.children["network-incident"].report(
            self.run_id, 1, 0, triage, agent="triage", execution=execution_of(self.run_id, "it-ops")
        )

    def task(self, stage: int, index: int) -> TaskInput:
        return TaskInput.model_validate_json(self.store.task_json(self.run_id, stage, index))

    def run_child(self, workflow: str, child_id: str, outputs: list[dict[str, Any] | None]) -> None:
        """Play the child's execution: each stage's one task reports its output (None: it fails)."""
        child = self.children[workflow]
        response = child.plan(child_id, 0)
        stage = 0
        while response.kind == "delegate":
            stage = response.stage
            output = outputs.pop(0)
            if output is None:
                child.report(child_id, stage, 0, None, status=TaskStatus.FAILED, error_type="AgentTaskFailed")
            else:
                child.report(child_id, stage, 0, output)
            response = child.plan(child_id, stage)


LINK = {"service": "checkout-api", "found": True, "link": "degraded", "region": "eu-west-1"}
TICKET = {"ticket_id": "T-1"}
HEALTH = {"service": "checkout-api", "healthy": False, "error_rate_percent": 12.5}


def test_a_parent_writes_each_child_start_with_its_id_caller_and_a_budget_drawn_from_its_own() -> None:
    tree = Tree()
    tree.triage()
    response = tree.plan(1)
    assert response.kind == "delegate"
    assert response.functions == [MACHINES["network-incident"], MACHINES["application-incident"]]
    for index, workflow in enumerate(("network-incident", "application-incident")):
        task = tree.task(2, index)
        assert task.child_run_id == child_run_id(workflow, tree.run_id, 2, index)
        start = tree.store.load_start(task.child_run_id)
        assert isinstance(start, StartRequest)
        assert (start.parent_run_id, start.caller, start.workflow) == (tree.run_id, CALLER, workflow)
        assert start.input == {"incident_id": "INC-2001", "service": "checkout-api"}
        assert start.untrusted_keys == []
        # 12 stages, 2 used by the router once this stage runs: 10 left, 5 for each of the two children
        assert start.budget is not None
        assert start.budget.max_stages == 5


def test_a_tree_of_runs_cannot_exceed_its_roots_stages() -> None:
    """Given a router allowed 4 stages in all
    When it hands an incident to two children at its second stage
    Then each child gets 1 stage ((4 - 2) // 2), so a child needing two fails on its budget; the router counts the
    stages its children used against its own, so it cannot page at a third stage either: 4 stages in the tree."""
    tree = Tree(max_stages=4)
    tree.triage()
    tree.plan(1)
    network, application = tree.task(2, 0), tree.task(2, 1)
    assert network.child_run_id is not None
    assert application.child_run_id is not None
    tree.run_child("network-incident", network.child_run_id, [LINK])
    tree.run_child("application-incident", application.child_run_id, [HEALTH])
    for child_id in (network.child_run_id, application.child_run_id):
        meta = tree.store.find_meta(child_id)
        assert meta is not None
        assert meta.status is RunStatus.FAILED
        assert meta.reason == "denied: run exceeded its budget of 1 stages"
    response = tree.plan(2)
    meta = tree.store.find_meta(tree.run_id)
    assert meta is not None
    assert response.kind == "fail"
    assert meta.status is RunStatus.FAILED
    assert meta.reason == "denied: run exceeded its budget of 2 stages"  # 4, less the 2 its children used
    stages = meta.stage + sum(
        m.stage for m in (tree.store.find_meta(c) for c in (network.child_run_id, application.child_run_id)) if m
    )
    assert stages <= 4


def test_a_failed_child_is_a_failed_task_and_a_finished_one_a_value_with_its_provenance() -> None:
    tree = Tree()
    tree.triage()
    tree.plan(1)
    network, application = tree.task(2, 0), tree.task(2, 1)
    assert network.child_run_id is not None
    assert application.child_run_id is not None
    tree.run_child("network-incident", network.child_run_id, [LINK, TICKET])
    tree.run_child("application-incident", application.child_run_id, [None])
    response = tree.plan(2)
    assert response.kind == "delegate"  # the router routes on the failure: it pages on-call
    assert tree.task(3, 0).agent == "escalation"
    steps = {s.key: s for s in tree.store.load_history(tree.run_id)}
    assert (steps["application"].status, steps["application"].error_type) == (TaskStatus.FAILED, "ChildRunFailed")
    assert steps["network"].child_run_id == network.child_run_id
    entry = tree.store.load_context(tree.run_id)["network"]
    assert (entry.source, entry.trusted) == ("workflow:network-incident", True)
    assert entry.value == {"link": "degraded", "region": "eu-west-1", "ticket": TICKET}


def test_a_run_started_before_schema_version_5_still_finishes() -> None:
    """Given an identity-incident run stored at schema version 4 (no parent, budget, child stages or result trust)
    When the new orchestrator plans the rest
    Then it finishes at its own version."""
    assert SCHEMA_VERSION == 5
    h = Harness(load_planner(CATALOG.workflow("identity-incident")), "identity-incident", CATALOG)  # type: ignore[arg-type]
    run_id = h.start({"incident_id": "INC-3001", "service": "payroll-portal"})
    h.plan(run_id, 0)
    meta = h.store.find_meta(run_id)
    assert meta is not None
    stored = meta.model_dump(mode="json")
    for new in ("parent_run_id", "budget", "child_stages", "result_trusted"):
        stored.pop(new)
    h.store.metas[run_id] = type(meta).model_validate(stored | {"schema_version": 4})
    h.report(run_id, 1, 0, {"service": "payroll-portal", "found": True, "sync": "stale"})
    assert h.plan(run_id, 1).kind == "finish"
    meta = h.store.find_meta(run_id)
    assert meta is not None
    assert (meta.status, meta.schema_version, meta.result) == (RunStatus.SUCCEEDED, 4, {"sync": "stale"})


def test_baton_graph_draws_each_child_workflow_as_a_subgraph_entered_by_a_child_execution() -> None:
    from baton.graph import mermaid

    drawn = mermaid(CATALOG, "it-ops")
    for child, agents in (
        ("network_incident", ("link_check", "network_ticket")),
        ("identity_incident", ("account_check",)),
        ("application_incident", ("health_check", "restart")),
    ):
        block = drawn.split(f"    subgraph sub_child_{child}[", 1)[1].split("    end\n", 1)[0]
        assert f"child_{child}[[" in block
        assert "startExecution.sync:2" in block
        for agent in agents:
            assert f"agent_{agent}[" in block
    assert 'agent_triage -->|"network symptoms"| child_network_incident' in drawn
    assert 'child_application_incident -->|"a sub-workflow failed: page on-call"| agent_escalation' in drawn
