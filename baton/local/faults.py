"""Fault injection for the offline engine: configurable per agent, deterministic for a seed.

A `FaultPlan` says, per agent, how often an invocation of its function is faulted and with which kinds
of fault. `FaultInjector(plan)` is passed to `LocalEngine(wrap_handler=...)`; it wraps every agent
function's in-process handler (never the orchestrator's) and, for each invocation, decides from
sha256(seed, agent, run id, stage, task index, delivery number) whether and how to fault it. The same
seed therefore faults the same deliveries of the same run, whatever order concurrent threads run in.

Kinds of fault, and what each stands for on AWS:

  exception         the handler crashes before doing anything (an unexpected bug): errorType
                    "InjectedFault", not retried by the state machine, caught and recorded as a failure
  timeout           the handler does its work (side effects included) and the invocation then times
                    out, so its answer is lost: "Sandbox.Timedout", retried; the retry repeats the work
  throttle          Lambda refuses the invocation before the handler runs:
                    "Lambda.TooManyRequestsException", retried
  malformed_output  the handler does its work, and the report it returns is then replaced by one whose
                    output fails the agent's output model (a buggy or compromised agent); only the
                    orchestrator's re-validation stands in its way
  duplicate         the same request is delivered twice (at-least-once delivery): the handler runs
                    twice, the second answer is returned (and recorded by the state machine)
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton.local.functions import agent_of
from baton.local.moto_patches import Handler
from baton.models import AgentResult, JournalEntry

MALFORMED_MARKER = "injected_fault"


class FaultKind(StrEnum):
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    THROTTLE = "throttle"
    MALFORMED_OUTPUT = "malformed_output"
    DUPLICATE = "duplicate"


class AgentFaults(BaseModel):
    """How one agent's invocations are faulted: `rate` of them, kinds drawn by `weights`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(ge=0.0, le=1.0)
    weights: dict[FaultKind, float] = Field(default_factory=lambda: dict.fromkeys(FaultKind, 1.0))

    @model_validator(mode="after")
    def _some_weight(self) -> AgentFaults:
        if any(w < 0 for w in self.weights.values()) or (self.rate > 0 and sum(self.weights.values()) <= 0):
            raise ValueError("weights must be non-negative and, with a rate above 0, not all zero")
        return self

    def pick(self, draw: float, kind_draw: float) -> FaultKind | None:
        """The fault for one delivery, from two uniform draws in [0, 1)."""
        if draw >= self.rate:
            return None
        total = sum(self.weights.values())
        threshold = kind_draw * total
        for kind, weight in self.weights.items():
            if threshold < weight:
                return kind
            threshold -= weight
        return next(k for k, w in reversed(self.weights.items()) if w > 0)


class FaultPlan(BaseModel):
    """Faults per agent (by catalog name); `default` applies to agents not listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    default: AgentFaults | None = None
    agents: dict[str, AgentFaults] = Field(default_factory=dict)

    def for_agent(self, agent: str) -> AgentFaults | None:
        return self.agents.get(agent, self.default)


class InjectedFault(Exception):
    """An injected crash; `lambda_error_type` is the errorType Step Functions sees."""

    lambda_error_type = "InjectedFault"


class InjectedTimeout(InjectedFault):
    lambda_error_type = "Sandbox.Timedout"


class InjectedThrottle(InjectedFault):
    lambda_error_type = "Lambda.TooManyRequestsException"


@dataclass(frozen=True)
class Injection:
    agent: str
    run_id: str
    stage: int
    index: int
    delivery: int
    kind: FaultKind


def _uniform(*parts: object) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultInjector:
    """`wrap_handler` for LocalEngine. Records every fault it injects (`injections`, `counts`)."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.injections: list[Injection] = []
        self.deliveries = 0
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, int, int]] = Counter()

    @property
    def counts(self) -> Counter[FaultKind]:
        with self._lock:
            return Counter(i.kind for i in self.injections)

    def __call__(self, function_name: str, handler: Handler) -> Handler:
        agent = agent_of(function_name)
        if agent is None:
            return handler  # the orchestrator is not an agent: its faults are the state machine's Retry
        faults = self.plan.for_agent(agent)
        if faults is None or faults.rate == 0:
            return handler
        return self._faulty(agent, faults, handler)

    def _faulty(self, agent: str, faults: AgentFaults, handler: Handler) -> Handler:
        def invoke(event: dict[str, Any]) -> Any:
            run_id, stage, index = str(event.get("run_id")), int(event.get("stage", 0)), int(event.get("index", 0))
            with self._lock:
                self.deliveries += 1
                self._seen[(run_id, stage, index)] += 1
                delivery = self._seen[(run_id, stage, index)]
            seed = self.plan.seed
            kind = faults.pick(
                _uniform(seed, agent, run_id, stage, index, delivery, "fault"),
                _uniform(seed, agent, run_id, stage, index, delivery, "kind"),
            )
            if kind is None:
                return handler(event)
            with self._lock:
                self.injections.append(Injection(agent, run_id, stage, index, delivery, kind))
            return _inject(kind, handler, event)

        return invoke


def _inject(kind: FaultKind, handler: Handler, event: dict[str, Any]) -> Any:
    if kind is FaultKind.EXCEPTION:
        raise InjectedFault("injected fault: the handler crashed")
    if kind is FaultKind.THROTTLE:
        raise InjectedThrottle("injected fault: Rate Exceeded.")
    if kind is FaultKind.TIMEOUT:
        handler(event)
        raise InjectedTimeout("injected fault: Task timed out")
    if kind is FaultKind.DUPLICATE:
        handler(event)
        return handler(event)
    return _malformed(handler(event))


def _malformed(answer: Any) -> Any:
    """The same report with an output no output model accepts (the report itself stays well-formed)."""
    result = AgentResult.model_validate(answer)
    entry = JournalEntry.model_validate_json(result.entry_json)
    if entry.output is None:
        return answer
    malformed = {**entry.output, MALFORMED_MARKER: "this field is in no output model"}
    entry_json = entry.model_copy(update={"output": malformed}).model_dump_json()
    return result.model_copy(update={"entry_json": entry_json}).model_dump(mode="json")


def soak_plan(rate: float = 0.2, seed: int = 0) -> FaultPlan:
    """Every agent faulted at `rate`, the five kinds equally likely."""
    return FaultPlan(seed=seed, default=AgentFaults(rate=rate))


FaultWrapper = Callable[[str, Handler], Handler]
