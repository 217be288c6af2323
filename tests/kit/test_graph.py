"""`baton graph`: the refund workflow as Mermaid, equal to README.md's, and true to what its planner does."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import ClassVar

import pytest

import baton.local.engine  # noqa: F401 (imported at collection, before pytest-socket blocks the X-Ray SDK's socket)
from baton.catalog import Catalog, build_catalog
from baton.cli import main
from baton.graph import GraphError, mermaid
from baton.models import Decision, Fail, RunStatus, RunView
from baton.runs import RunRecord
from baton.testing import BatonRun, pytest_plugin
from refund_app import catalog as refund
from refund_app.planner import RefundPlanner

# Baton's fixtures, for this module (whether or not the plugin is registered by its entry point)
baton_catalog = pytest_plugin.baton_catalog
baton_engine = pytest_plugin.baton_engine
baton_run = pytest_plugin.baton_run

ROOT = Path(__file__).resolve().parents[2]
SHAPES = r'(\(\[".*"\]\)|\[".*"\]|\{\{".*"\}\}|\[/".*"/\]|\[\(".*"\)\]|>".*"\])'
NODE = re.compile(rf"^    [A-Za-z0-9_]+{SHAPES}$")
EDGE = re.compile(r'^    [A-Za-z0-9_]+ --> ([A-Za-z0-9_]+)$|^    [A-Za-z0-9_]+ -->\|"[^"]*"\| [A-Za-z0-9_]+$')


def readme_graph() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## The refund workflow\n", 1)[1]
    block = re.search(r"```mermaid\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README.md's refund section has no mermaid block"
    return block.group(1)


def test_the_readme_shows_what_baton_graph_refund_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--catalog", "refund_app.catalog:CATALOG", "graph", "refund"]) == 0
    assert capsys.readouterr().out == readme_graph()


def test_the_graph_is_flowchart_mermaid_with_safe_ids_and_sorted_lines() -> None:
    text = mermaid(refund.CATALOG, "refund")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[1].startswith("    %% ")
    nodes = [line for line in lines[2:] if "-->" not in line]
    edges = [line for line in lines[2:] if "-->" in line]
    assert all(NODE.match(line) for line in nodes), [line for line in nodes if not NODE.match(line)]
    assert all(EDGE.match(line) for line in edges), [line for line in edges if not EDGE.match(line)]
    assert nodes == sorted(nodes)
    assert lines[2:] == nodes + edges
    # every tool with its side effect, every resource with its actions, the secret and the egress host
    assert '    agent_payment_reversal -->|"irreversible"| tool_refund_payment' in lines
    assert '    tool_refund_payment[/"refund_payment: untrusted output"/]' in lines
    assert '    tool_get_order -->|"dynamodb:GetItem"| table_orders' in lines
    assert '    tool_refund_payment -->|"secretsmanager:GetSecretValue"| secret_payment_api_key' in lines
    assert '    tool_refund_payment -->|"https"| host_payments_example_com' in lines


def test_the_graph_does_not_depend_on_declaration_order() -> None:
    shuffled = build_catalog(
        resources=list(reversed(refund.RESOURCES)),
        tools=list(reversed(refund.TOOLS)),
        agents=list(reversed(refund.AGENTS)),
        workflows=[refund.WORKFLOW.model_copy(update={"agents": tuple(reversed(refund.WORKFLOW.agents))})],
    )
    assert mermaid(shuffled, "refund") == mermaid(refund.CATALOG, "refund")


class PlainPlanner:
    """A planner without ROUTES: the graph can only say that every agent may be delegated."""

    def decide(self, run: RunView) -> Decision:
        return Fail(reason="never runs")


class LoopingRoutes(PlainPlanner):
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "order_lookup", "go"),
        ("order_lookup", "moon", "?"),
    )


class BrokenRoutes(PlainPlanner):
    ROUTES: ClassVar[tuple[str, ...]] = ("input -> order_lookup",)


def with_planner(planner: str) -> Catalog:
    workflow = refund.WORKFLOW.model_copy(update={"planner": f"tests.kit.test_graph:{planner}"})
    return build_catalog(resources=refund.RESOURCES, tools=refund.TOOLS, agents=refund.AGENTS, workflows=[workflow])


def test_without_routes_every_agent_is_a_possible_delegation() -> None:
    lines = mermaid(with_planner("PlainPlanner"), "refund").splitlines()
    assert '    wf_planner{{"planner: PlainPlanner"}}' in lines
    for agent in refund.WORKFLOW.agents:
        assert f'    wf_planner -->|"delegate"| agent_{agent}' in lines
        assert f'    agent_{agent} -->|"result"| wf_planner' in lines
    assert '    wf_planner -->|"finish"| wf_finish' in lines
    assert '    wf_planner -->|"fail"| wf_fail' in lines


@pytest.mark.parametrize(
    ("planner", "message"), [("LoopingRoutes", "lead to 'moon'"), ("BrokenRoutes", "is not a (from, to, label)")]
)
def test_routes_naming_anything_else_are_refused(planner: str, message: str) -> None:
    with pytest.raises(GraphError, match=re.escape(message)):
        mermaid(with_planner(planner), "refund")


def transitions(record: RunRecord) -> set[tuple[str, str]]:
    """The (from, to) routes a run took: input -> first stage -> ... -> last stage -> finish or fail."""
    stages: dict[int, set[str]] = {}
    for step in record.steps:
        stages.setdefault(step.stage, set()).add(step.agent)
    path = [{"input"}] + [agents for _, agents in sorted(stages.items())]
    path.append({"finish"} if record.status is RunStatus.SUCCEEDED else {"fail"})
    return {(a, b) for before, after in itertools.pairwise(path) for a in before for b in after}


def test_refund_routes_are_the_routes_its_runs_take(baton_run: BatonRun) -> None:
    # Given every route the examples take: eligible, window expired, provider failing, needs review, unknown order
    inputs = [
        {"order_id": "ORD-1001"},
        {"order_id": "ORD-1002"},
        {"order_id": "ORD-1003"},
        {"order_id": "ORD-1004"},
        {"order_id": "ORD-999999"},
    ]
    taken = set().union(*(transitions(baton_run("refund", run_input)) for run_input in inputs))
    # Then each is declared, and what is declared but not taken is a failure of an agent itself
    declared = {(source, target) for source, target, _ in RefundPlanner.ROUTES}
    assert taken <= declared
    assert {target for _, target in declared - taken} == {"fail"}
