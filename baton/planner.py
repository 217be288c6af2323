"""The planner interface: the run's state in, one Decision out.

A rule planner is plain Python (`decide(run)`, a constructor without arguments). A model planner
(`baton.ai.planner:ModelPlanner`) implements the same method; its constructor takes `services: PlannerServices`,
which `load_planner` then passes: the catalog, the workflow, model gateways over the run's remaining model budget,
and a way to report an invalid model decision for the audit. A rule planner may take services too, to call a
model for one step only (see baton.ai.planner). The orchestrator validates every decision either way.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from baton.audit import digest
from baton.catalog import Budgets, Catalog, ModelSpec, WorkflowSpec, resolve
from baton.models import Decision, ModelAllowance, ModelUsage, RunView

if TYPE_CHECKING:
    from baton.ai.gateway import ModelGateway

# The orchestrator function's timeout, by planner kind: a rule planner decides in milliseconds, a model planner
# waits for model calls (up to three answers, each seconds long). Only the function's timeout bounds a Plan: the
# state machine's Plan state waits longer than either (see statemachines/orchestration.asl.json), so that it never
# gives up on an orchestrator that is still running (and spending) to start a second one.
RULE_PLANNER_TIMEOUT_SECONDS = 60
MODEL_PLANNER_TIMEOUT_SECONDS = 300
# the budget dimensions, as ModelUsage / ModelAllowance fields and as Budgets fields
BUDGET_FIELDS = (
    ("calls", "max_model_calls"),
    ("input_tokens", "max_input_tokens"),
    ("output_tokens", "max_output_tokens"),
)


class Planner(Protocol):
    def decide(self, run: RunView) -> Decision: ...


class PlannerError(Exception):
    """A planner that cannot be loaded, or a model gateway asked for outside a decision or without a model."""


def orchestrator_timeout_seconds(workflow: WorkflowSpec) -> int:
    """How long one Plan of this workflow may take: the orchestrator function's timeout."""
    return MODEL_PLANNER_TIMEOUT_SECONDS if workflow.planner_model is not None else RULE_PLANNER_TIMEOUT_SECONDS


# ---------------------------------------------------------------- model budgets


def remaining_budget(budgets: Budgets, used: ModelUsage) -> ModelAllowance:
    """What a run may still spend (a part may be negative: a call can overshoot what was left of its input tokens)."""
    return ModelAllowance(
        calls=budgets.max_model_calls - used.calls,
        input_tokens=budgets.max_input_tokens - used.input_tokens,
        output_tokens=budgets.max_output_tokens - used.output_tokens,
    )


def minus(allowance: ModelAllowance, used: ModelUsage) -> ModelAllowance:
    return ModelAllowance(
        calls=allowance.calls - used.calls,
        input_tokens=allowance.input_tokens - used.input_tokens,
        output_tokens=allowance.output_tokens - used.output_tokens,
    )


def share(allowance: ModelAllowance, parts: int) -> ModelAllowance:
    """One of `parts` equal shares (rounded down, never negative): together they never exceed `allowance`."""
    return ModelAllowance(
        calls=max(allowance.calls, 0) // parts,
        input_tokens=max(allowance.input_tokens, 0) // parts,
        output_tokens=max(allowance.output_tokens, 0) // parts,
    )


def exhausted_budget(budgets: Budgets, left: ModelAllowance) -> str | None:
    """The first budget with nothing left, as the run's failure reason names it."""
    for usage_field, budget_field in BUDGET_FIELDS:
        if getattr(left, usage_field) <= 0:
            return f"model budget exhausted: {budget_field} ({getattr(budgets, budget_field)} per run)"
    return None


def add_by_model(total: dict[str, ModelUsage], more: dict[str, ModelUsage]) -> dict[str, ModelUsage]:
    merged = dict(total)
    for model_id, usage in more.items():
        merged[model_id] = merged.get(model_id, ModelUsage()) + usage
    return merged


# ---------------------------------------------------------------- what a planner may use while deciding


class InvalidDecision(NamedTuple):
    """A model answer that was not a valid decision: what was wrong (Baton's words), and the answer's hash."""

    problem: str
    answer_hash: str
    number: int  # 1 for the decision's first invalid answer, 2 for its second, ...


@dataclass
class PlanningSession:
    """One decision's spending and reports, collected by the orchestrator and committed with the decision."""

    remaining: ModelAllowance  # what the run had left when the decision began
    gateways: list[ModelGateway] = field(default_factory=list)
    invalid: list[InvalidDecision] = field(default_factory=list)

    @property
    def usage(self) -> ModelUsage:
        total = ModelUsage()
        for gateway in self.gateways:
            total = total + gateway.usage
        return total

    @property
    def usage_by_model(self) -> dict[str, ModelUsage]:
        by_model: dict[str, ModelUsage] = {}
        for gateway in self.gateways:
            if gateway.usage.calls:
                by_model = add_by_model(by_model, {gateway.spec.model_id: gateway.usage})
        return by_model

    def left(self) -> ModelAllowance:
        """What the run has left now: every gateway of this decision draws on the same remainder."""
        return minus(self.remaining, self.usage)


class PlannerServices:
    """What the orchestrator gives a planner that asks for it (a constructor parameter named `services`).

    `model_gateway()` and `report_invalid()` work while the orchestrator is asking the planner for a decision: the
    gateway's allowance is what the run has left of its model budget (checked before every call, fail closed), and
    what it spends is added to the run's usage in the same commit as the decision.
    """

    def __init__(
        self, catalog: Catalog, workflow: WorkflowSpec, bedrock_runtime: Callable[[], Any] | None = None
    ) -> None:
        self.catalog = catalog
        self.workflow = workflow
        self._bedrock_factory = bedrock_runtime
        self._bedrock: Any = None
        self._lock = threading.Lock()
        # one Lambda invocation decides at a time; offline, one function may serve several runs at once
        self._local = threading.local()

    @contextmanager
    def deciding(self, remaining: ModelAllowance) -> Iterator[PlanningSession]:
        """The orchestrator's side: the session of one decision, given what the run has left."""
        session = PlanningSession(remaining)
        previous = getattr(self._local, "session", None)
        self._local.session = session
        try:
            yield session
        finally:
            self._local.session = previous

    def _session(self) -> PlanningSession:
        session: PlanningSession | None = getattr(self._local, "session", None)
        if session is None:
            raise PlannerError("model gateways and reports are for a planner deciding (inside decide())")
        return session

    def model_gateway(self, spec: ModelSpec | None = None) -> ModelGateway:
        """A Converse gateway over the run's remaining model budget (by default, on the workflow's planner_model)."""
        from baton.ai.planner import SessionGateway

        model = spec or self.workflow.planner_model
        if model is None:
            raise PlannerError(f"workflow {self.workflow.name!r} declares no planner_model")
        session = self._session()
        gateway = SessionGateway(self._client(), model, session)
        session.gateways.append(gateway)
        return gateway

    def report_invalid(self, problem: str, answer: object) -> None:
        """Record an invalid model decision: `problem` in Baton's own words, the model's answer by its hash only."""
        session = self._session()
        session.invalid.append(InvalidDecision(problem, digest(answer), len(session.invalid) + 1))

    def _client(self) -> Any:
        with self._lock:
            if self._bedrock is None:
                if self._bedrock_factory is None:
                    raise PlannerError("this orchestrator has no bedrock-runtime client")
                self._bedrock = self._bedrock_factory()
            return self._bedrock


def wants_services(factory: Callable[..., object]) -> bool:
    try:
        return "services" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def load_planner(workflow: WorkflowSpec, services: PlannerServices | None = None) -> Planner:
    factory = resolve(workflow.planner)
    if wants_services(factory):
        if services is None:
            raise PlannerError(f"planner {workflow.planner} needs PlannerServices: load_planner(workflow, services)")
        with_services: Planner = factory(services=services)
        return with_services
    planner: Planner = factory()
    return planner
