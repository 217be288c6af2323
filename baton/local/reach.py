"""What a run of one workflow may reach offline: `baton run` deploys that alone, not the whole app.

A run reaches its workflow, the workflow's children (hierarchical orchestration), the workflow a peer tool of one
of its agents starts when that workflow is in the same app (the federated pattern: one engine serves the peer's API
through the peer bridge), and, when one of its agents may publish events (a tool naming an event bus), every
workflow a trigger starts (the event-driven pattern; conservatively all of them, whatever their pattern); each of
those recursively.
"""

from __future__ import annotations

from baton.catalog import Catalog, ResourceKind, ToolSpec
from baton.config import LoadedApp


def reachable(catalog: Catalog, workflow: str) -> tuple[str, ...]:
    """The names of the workflows a run of `workflow` may reach, in the catalog's order."""
    triggered = [name for name, spec in catalog.workflows.items() if spec.triggers]
    reached: set[str] = set()
    pending = [catalog.workflow(workflow).name]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        spec = catalog.workflows[name]
        pending.extend(spec.children)
        for tool in (tool for agent in spec.agents for tool in catalog.tools_of(catalog.agents[agent])):
            if tool.peer is not None and tool.peer.workflow in catalog.workflows:
                pending.append(tool.peer.workflow)
            if _publishes(tool):
                pending.extend(triggered)
    return tuple(name for name in catalog.workflows if name in reached)


def reach(app: LoadedApp, workflow: str) -> LoadedApp:
    """The app serving only what a run of `workflow` may reach (what LocalEngine then deploys)."""
    return app._replace(catalog=app.catalog.restricted(reachable(app.catalog, workflow)))


def _publishes(tool: ToolSpec) -> bool:
    return any(ref.kind is ResourceKind.EVENT_BUS for ref in tool.resource_refs())
