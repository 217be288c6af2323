"""The planner interface: the run's state in, one Decision out.

A rule planner is plain Python; an LLM planner (Bedrock) implements the same method, with its choices
constrained to the workflow's agents. The orchestrator validates every decision either way.
"""

from __future__ import annotations

from typing import Protocol

from baton.catalog import WorkflowSpec, resolve
from baton.models import Decision, RunView


class Planner(Protocol):
    def decide(self, run: RunView) -> Decision: ...


def load_planner(workflow: WorkflowSpec) -> Planner:
    planner: Planner = resolve(workflow.planner)()
    return planner
