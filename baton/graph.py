"""`baton graph WORKFLOW`: a workflow as a Mermaid flowchart, from its catalog.

What is drawn:
  - the input, the planner, and the two ways a run ends (finish, fail);
  - the planner's possible delegations. A catalog cannot know which agent a planner picks when, so by
    default every agent of the workflow is a possible route (planner -> agent -> planner). A planner class
    may declare its real routes in an optional `ROUTES` attribute, a sequence of (from, to, label): from is
    "input" or an agent, to is an agent, "finish" or "fail". Those edges are then drawn instead;
  - each agent's tools, the edge labelled with the tool's side effect (read, write, irreversible), and
    each tool's node saying whether its output is trusted;
  - what each tool reaches: catalog resources (labelled with the IAM actions granted), secrets, and
    egress hosts.

The output is deterministic (nodes and edges sorted) and node ids are letters, digits and underscores.
Nothing in the runtime imports this module.
"""

from __future__ import annotations

import re

from baton.catalog import Catalog, WorkflowSpec
from baton.validate import planner_routes, route_problems


class GraphError(ValueError):
    """The workflow cannot be drawn (unknown workflow, malformed ROUTES)."""


_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _label(text: str) -> str:
    """A quoted Mermaid label: entity codes for the characters Mermaid would read as syntax."""
    escaped = text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return '"' + " ".join(escaped.split()) + '"'


class _Ids:
    """Safe, unique, deterministic node ids: `kind_name` with anything unsafe replaced by `_`."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()

    def __call__(self, kind: str, name: str) -> str:
        key = (kind, name)
        if key not in self._ids:
            base = _UNSAFE.sub("_", f"{kind}_{name}")
            candidate, suffix = base, 2
            while candidate in self._taken:
                candidate, suffix = f"{base}_{suffix}", suffix + 1
            self._taken.add(candidate)
            self._ids[key] = candidate
        return self._ids[key]


def mermaid(catalog: Catalog, workflow_name: str) -> str:
    """The Mermaid flowchart (`flowchart TD`) of one workflow, ending with a newline."""
    workflow = catalog.workflows.get(workflow_name)
    if workflow is None:
        raise GraphError(f"unknown workflow {workflow_name!r}; known: {', '.join(sorted(catalog.workflows))}")
    routes = _routes(workflow)
    ids = _Ids()
    nodes: dict[str, str] = {}
    edges: set[tuple[str, str, str]] = set()

    def node(kind: str, name: str, shape: str, text: str) -> str:
        node_id = ids(kind, name)
        nodes[node_id] = shape.replace("@", _label(text))
        return node_id

    planner_class = workflow.planner.partition(":")[2]
    source = node("wf", "input", "([@])", f"input: {workflow.input_model.__name__}")
    planner = node("wf", "planner", "{{@}}", f"planner: {planner_class}")
    ends = {end: node("wf", end, "([@])", end) for end in ("finish", "fail")}
    agents = {name: node("agent", name, "[@]", name) for name in sorted(set(workflow.agents))}
    edges.add((source, planner, ""))
    if routes is None:
        for agent_id in agents.values():
            edges.add((planner, agent_id, "delegate"))
            edges.add((agent_id, planner, "result"))
        for end, end_id in ends.items():
            edges.add((planner, end_id, end))
    else:
        endpoints = {"input": planner, **ends, **agents}
        edges.update((endpoints[a], endpoints[b], label) for a, b, label in routes)
    for agent_name, agent_id in agents.items():
        for tool in catalog.tools_of(catalog.agent(agent_name)):
            trust = "trusted output" if tool.output_trusted else "untrusted output"
            tool_id = node("tool", tool.name, "[/@/]", f"{tool.name}: {trust}")
            edges.add((agent_id, tool_id, tool.side_effect.value))
            for grant in tool.all_grants():  # declared grants, and those its secrets imply
                kind = grant.resource.kind.value
                target = node(kind, grant.resource.name, "[(@)]", f"{kind}: {grant.resource.name}")
                edges.add((tool_id, target, ", ".join(sorted(set(grant.actions)))))
            for host in tool.egress:
                target = node("host", host, ">@]", f"egress: {host}")
                edges.add((tool_id, target, "https"))
    lines = ["flowchart TD", f"    %% baton graph {workflow.name}: generated from the catalog"]
    lines += [f"    {node_id}{shape}" for node_id, shape in sorted(nodes.items())]
    for start, end, label in sorted(edges):
        arrow = f" -->|{_label(label)}| " if label else " --> "
        lines.append(f"    {start}{arrow}{end}")
    return "\n".join(lines) + "\n"


def _routes(workflow: WorkflowSpec) -> list[tuple[str, str, str]] | None:
    try:
        routes = planner_routes(workflow)
    except ValueError as error:  # CatalogError is a ValueError too: the planner does not import
        raise GraphError(str(error)) from None
    if routes is None:
        return None
    problems = route_problems(workflow, routes)
    if problems:
        raise GraphError(problems[0])
    return routes
