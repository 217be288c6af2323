"""The it-ops app's synthesized template: every role is what baton.iam derives from the catalog, and the hierarchical
parts are exactly the declared children: the router's state machine may start (and watch) the three child
workflows' executions and nothing else; its orchestrator may write their start requests and read their run records;
no child may start anything; each agent holds only its own tool's grant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.iam import Component, orchestrator_role, state_machine_role
from baton.testing.cloudformation import Synthesized, synthesize
from it_ops_app.catalog import CATALOG
from tests.infra.helpers import derived_roles, expected_statements, normalized, role_statements, sort_key

CHILDREN = ("network-incident", "identity-incident", "application-incident")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("it_ops_app.catalog:CATALOG", Path(tmp_path_factory.mktemp("it-ops.cdk.out")))


def test_every_role_holds_exactly_the_statements_derived_from_the_catalog(synthesized: Synthesized) -> None:
    roles = derived_roles(synthesized)
    assert {(spec.component, spec.name) for spec, _ in roles} >= {
        (Component.STATE_MACHINE, "it-ops"),
        *((Component.STATE_MACHINE, c) for c in CHILDREN),
    }
    resources = synthesized.template["Resources"]
    for spec, logical_id in roles:
        held = sorted((normalized(s) for s in role_statements(resources[logical_id])), key=sort_key)
        assert held == sorted(expected_statements(synthesized, spec), key=sort_key), (spec.component, spec.name)


def _sids(statements: Any) -> set[str]:
    return {s.sid for s in statements}


def test_only_the_router_may_start_child_executions_and_only_of_its_declared_children() -> None:
    router = state_machine_role(CATALOG, CATALOG.workflow("it-ops"))
    start = next(s for s in router.statements if s.sid == "StartChildExecutions")
    assert start.actions == ("states:StartExecution",)
    assert sorted(r.name for r in start.resources) == sorted(CHILDREN)
    watch = next(s for s in router.statements if s.sid == "WatchChildExecutions")
    assert sorted(r.name for r in watch.resources) == sorted(CHILDREN)
    assert {"StartChildExecutions", "WatchChildExecutions", "ChildExecutionEvents"} <= _sids(router.statements)
    for child in CHILDREN:
        role = state_machine_role(CATALOG, CATALOG.workflow(child))
        assert not any(a.startswith(("states:", "events:")) for s in role.statements for a in s.actions), child
        assert not {"StartChildRuns", "ReadChildRuns"} & _sids(
            orchestrator_role(CATALOG, CATALOG.workflow(child)).statements
        )
    orchestrator = orchestrator_role(CATALOG, CATALOG.workflow("it-ops"))
    writes = next(s for s in orchestrator.statements if s.sid == "StartChildRuns")
    assert writes.actions == ("dynamodb:PutItem",)
    assert sorted(writes.conditions["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]) == sorted(
        f"START#{c}_*" for c in CHILDREN
    )


def test_the_router_runs_the_shared_definition_whose_map_starts_children_with_sync2(synthesized: Synthesized) -> None:
    """The definition is the one every workflow deploys: its Map dispatches a child workflow's task to StartChild
    (states:startExecution.sync:2); the router's orchestrator knows the three child state machines, by ARN."""
    import json

    from baton.statemachine import definition_text
    from tests.infra.helpers import functions_by_env

    definition = json.loads(definition_text("standard"))
    inner = definition["States"]["Delegate"]["ItemProcessor"]["States"]
    assert inner["LoadTask"]["Next"] == "Dispatch"
    assert inner["StartChild"]["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert inner["StartChild"]["Catch"][0]["Next"] == "RecordCrash"
    express = json.loads(definition_text("express"))["States"]["Delegate"]["ItemProcessor"]["States"]
    assert "StartChild" not in express
    assert express["LoadTask"]["Next"] == "RunAgent"

    resources = synthesized.template["Resources"]
    orchestrators = functions_by_env(synthesized.template, "BATON_WORKFLOW")
    variables = resources[orchestrators["it-ops"]]["Properties"]["Environment"]["Variables"]
    machines = synthesized.resolve(variables["BATON_CHILD_STATE_MACHINES"])
    text = json.dumps(machines)
    for child in CHILDREN:
        assert child in text
    for child in CHILDREN:
        child_variables = resources[orchestrators[child]]["Properties"]["Environment"]["Variables"]
        assert "BATON_CHILD_STATE_MACHINES" not in child_variables
    assert "BATON_STATE_MACHINES" not in variables  # what the api alone holds
