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
    egress hosts;
  - each child workflow (`WorkflowSpec.children`) as a subgraph: the child run's entry (a child execution,
    states:startExecution.sync:2), its planner, agents, routes and ends, its agents' tools drawn as above.

The output is deterministic (nodes and edges sorted) and node ids are letters, digits and underscores.
Nothing in the runtime imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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

    children = {name: ids("child", name) for name in sorted(set(workflow.children))}
    subgraphs: list[str] = []
    for child_name, child_id in children.items():  # drawn first: their nodes are declared inside their subgraph
        before = set(nodes)
        child = catalog.workflow(child_name)
        entry = node("child", child_name, "[[@]]", f"child run: {child_name} (startExecution.sync:2)")
        _draw(catalog, child, _routes(child), f"wf_{child_name}", entry, ids, node, edges)
        inner = sorted(n for n in set(nodes) - before if not n.startswith(("tool_", "host_")) and "_" in n)
        inner = [n for n in inner if n == entry or n.startswith(("wf_", "agent_"))]
        subgraphs.append(f"    subgraph sub_{child_id}[{_label('child workflow: ' + child_name)}]")
        subgraphs += [f"        {n}{nodes.pop(n)}" for n in inner]
        subgraphs.append("    end")
    source = node("wf", "input", "([@])", f"input: {workflow.input_model.__name__}")
    planner_class = workflow.planner.partition(":")[2]
    planner = node("wf", "planner", "{{@}}", f"planner: {planner_class}")
    edges.add((source, planner, ""))
    _draw(catalog, workflow, routes, "wf", planner, ids, node, edges, children)
    _draw_triggers(catalog, workflow, source, node, edges)
    lines = ["flowchart TD", f"    %% baton graph {workflow.name}: generated from the catalog"]
    lines += [f"    {node_id}{shape}" for node_id, shape in sorted(nodes.items())]
    lines += subgraphs
    for start, end, label in sorted(edges):
        arrow = f" -->|{_label(label)}| " if label else " --> "
        lines.append(f"    {start}{arrow}{end}")
    return "\n".join(lines) + "\n"


def _draw_triggers(
    catalog: Catalog,
    workflow: WorkflowSpec,
    source: str,
    node: Callable[[str, str, str, str], str],
    edges: set[tuple[str, str, str]],
) -> None:
    """The event-driven pattern (baton.triggers): each rule on a bus this workflow's tools publish to, leading to its
    subscribing workflow (queue, starter, run); and the rule that starts this workflow, leading to its input."""
    from baton.catalog import ResourceKind

    published = {
        grant.resource.name
        for agent in workflow.agents
        for tool in catalog.tools_of(catalog.agent(agent))
        for grant in tool.grants
        if grant.resource.kind is ResourceKind.EVENT_BUS
    }
    for other in sorted(catalog.workflows.values(), key=lambda w: w.name):
        for trigger in other.triggers:
            subscribes = other.name == workflow.name
            if trigger.bus not in published and not subscribes:
                continue
            bus = node("event_bus", trigger.bus, "[(@)]", f"event_bus: {trigger.bus}")
            pattern = ", ".join(f"{key}: {trigger.pattern[key]}" for key in sorted(trigger.pattern))
            rule = node("rule", other.name, "{{@}}", f"event rule: {pattern}")
            edges.add((bus, rule, "matching events"))
            if subscribes:
                edges.add((rule, source, "its queue, its starter (redrive: dead letters)"))
            else:
                target = node("subscriber", other.name, "[[@]]", f"triggered run: {other.name}")
                edges.add((rule, target, "its queue, its starter (redrive: dead letters)"))


def _draw(
    catalog: Catalog,
    workflow: WorkflowSpec,
    routes: list[tuple[str, str, str]] | None,
    kind: str,
    planner: str,
    ids: _Ids,
    node: Callable[[str, str, str, str], str],
    edges: set[tuple[str, str, str]],
    children: dict[str, str] | None = None,
) -> None:
    """One workflow's planner routes (or every possible delegation), ends, agents and their tools."""
    if kind != "wf":  # a child workflow: its entry leads to its own planner
        child_planner = node(kind, "planner", "{{@}}", f"planner: {workflow.planner.partition(':')[2]}")
        edges.add((planner, child_planner, f"input: {workflow.input_model.__name__}"))
        planner = child_planner
    ends = {end: node(kind, end, "([@])", end) for end in ("finish", "fail")}
    agents = {name: node("agent", name, "[@]", name) for name in sorted(set(workflow.agents))}
    agents |= children or {}
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
        if agent_name not in catalog.agents:  # a child workflow: drawn as its own subgraph
            continue
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
            if tool.peer is not None:  # the federated pattern: another deployment's workflow, under its role
                peer = tool.peer
                target = node("peer", peer.workflow, "[[@]]", f"peer workflow: {peer.workflow} (untrusted)")
                edges.add((tool_id, target, f"SigV4 as {peer.role_arn.rsplit('/', 1)[1]}, external id"))


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
