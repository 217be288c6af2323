"""What a run of one workflow may reach offline: `baton run` deploys that alone, not the whole app.

A run reaches its workflow, the workflow's children (hierarchical orchestration), the workflow a peer tool of one
of its agents starts when that workflow is in the same app (the federated pattern: one engine serves the peer's API
through the peer bridge), and, when one of its agents may publish events (a tool naming an event bus), every
workflow a trigger starts (the event-driven pattern; conservatively all of them, whatever their pattern); each of
those recursively.

`load_reach` loads no more of an app's catalogs than that needs: the one declaring the workflow when what it reaches
stays inside that catalog (no peer declared elsewhere, no event published), else all of them. Loading the root
app's seven catalogs and merging them was ~0.1 s of a ~1.2 s `baton run refund`; conflicts between an app's
catalogs are still refused by `baton validate` and at synthesis, which load them all.
"""

from __future__ import annotations

from baton.catalog import Catalog, ResourceKind, ToolSpec
from baton.config import AppConfig, LoadedApp, load_app, load_parts


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


def load_reach(config: AppConfig, workflow: str) -> LoadedApp:
    """The app's catalogs a run of `workflow` may reach into (`reach` then restricts them): the catalog declaring
    `workflow` alone when it holds all of that, else every catalog (as for an unknown workflow, so that the caller's
    error names every workflow)."""
    for path, part in load_parts(config):
        if workflow in part.workflows:
            if not _leaves(part, reachable(part, workflow)):
                return load_app(config._replace(catalogs=(path,)))
            break
    return load_app(config)


def _leaves(catalog: Catalog, reached: tuple[str, ...]) -> bool:
    """Whether a run of these workflows may reach beyond `catalog`: a peer's workflow it does not declare (another
    catalog of the app may), or an event (any catalog's trigger may start a run on it)."""
    tools = (
        tool
        for name in reached
        for agent in catalog.workflows[name].agents
        for tool in catalog.tools_of(catalog.agents[agent])
    )
    return any(
        (tool.peer is not None and tool.peer.workflow not in catalog.workflows) or _publishes(tool) for tool in tools
    )


def _publishes(tool: ToolSpec) -> bool:
    return any(ref.kind is ResourceKind.EVENT_BUS for ref in tool.resource_refs())
