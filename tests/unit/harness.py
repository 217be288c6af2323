"""An orchestrator on the in-memory store, with the state machine's part played by hand: no moto, no KMS.

A model planner's Bedrock is a `StubBedrock`: its `converse(**request)` is answered by a model double
(baton.local.model_doubles: ScriptedModel, RuleModel, ObedientModel), without botocore or a network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

from baton.catalog import Catalog
from baton.clock import now_iso
from baton.local.model_doubles import ModelDouble
from baton.models import (
    Decision,
    JournalEntry,
    ModelUsage,
    PlanRequest,
    PlanResponse,
    RunView,
    TaskInput,
    TaskStatus,
    ToolCallRecord,
)
from baton.orchestrator import Orchestrator
from baton.planner import PlannerServices, load_planner
from baton.runs import RunStarter
from baton.testing.memory_store import InMemoryStateStore, LocalHeadSigner
from tests.testapp.catalog import CATALOG

CALLER = "arn:aws:iam::123456789012:role/caller"
EXECUTION_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:baton-{workflow}:"


def execution_of(run_id: str, workflow: str = "relay") -> str:
    return EXECUTION_PREFIX.format(workflow=workflow) + run_id


class Scripted:
    """A planner that returns the decisions it is given, one per call (an exception is raised instead)."""

    def __init__(self, *decisions: Decision | Exception | object) -> None:
        self.decisions = list(decisions)
        self.views: list[RunView] = []

    def decide(self, run: RunView) -> Any:
        self.views.append(run)
        decision = self.decisions.pop(0)
        if isinstance(decision, Exception):
            raise decision
        return decision


class NoExecutions:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    def start(self, workflow: str, run_id: str) -> None:
        self.started.append((workflow, run_id))


@dataclass
class Harness:
    planner: Scripted
    workflow: str = "relay"
    catalog: Catalog = CATALOG
    store: InMemoryStateStore = field(default_factory=InMemoryStateStore)
    signer: LocalHeadSigner = field(default_factory=LocalHeadSigner)
    services: PlannerServices | None = None

    def __post_init__(self) -> None:
        spec = self.catalog.workflow(self.workflow)
        self.orchestrator = Orchestrator(
            self.catalog,
            spec,
            self.store,
            self.planner,
            {a: f"fn-{a}" for a in spec.agents},
            self.signer,
            services=self.services,
        )
        self.executions = NoExecutions()
        self.starter = RunStarter(self.catalog.workflows, self.store, self.executions)

    def start(self, run_input: dict[str, Any] | None = None, key: str | None = None, caller: str = CALLER) -> str:
        return self.starter.start(self.workflow, run_input or {"item_id": "IT-1"}, caller, key).run_id

    def plan(self, run_id: str, stage: int, execution: str | None = None) -> PlanResponse:
        return self.orchestrator.plan(
            PlanRequest(run_id=run_id, stage=stage, execution=execution or execution_of(run_id, self.workflow))
        )

    def task(self, run_id: str, stage: int, index: int) -> TaskInput:
        return TaskInput.model_validate_json(self.store.task_json(run_id, stage, index))

    def report(
        self,
        run_id: str,
        stage: int,
        index: int,
        output: dict[str, Any] | None = None,
        *,
        attempt: int = 1,
        status: TaskStatus = TaskStatus.SUCCEEDED,
        agent: str | None = None,
        tool_calls: list[ToolCallRecord] | None = None,
        output_trusted: bool = True,
        error_type: str | None = None,
        execution: str | None = None,
        report_stage: int | None = None,
        model_usage: ModelUsage | None = None,
    ) -> None:
        """Record what an agent reports for one attempt, as the state machine's RecordAttempt state does."""
        entry = JournalEntry(
            stage=stage if report_stage is None else report_stage,
            index=index,
            attempt=attempt,
            agent=agent or self.task(run_id, stage, index).agent,
            status=status,
            started_at=now_iso(),
            ended_at=now_iso(),
            output=output,
            output_trusted=output_trusted,
            tool_calls=tool_calls or [],
            model_usage=model_usage or ModelUsage(),
            error_type=error_type,
            error=None if error_type is None else f"{error_type}: it failed",
        )
        self.store.record_attempt(
            run_id, stage, index, attempt, execution or execution_of(run_id, self.workflow), entry.model_dump_json()
        )

    def audit(self, run_id: str) -> list[dict[str, Any]]:
        meta = self.store.find_meta(run_id)
        assert meta is not None
        return self.store.load_audit(run_id, meta.audit_seq)

    def kinds(self, run_id: str) -> list[str]:
        return [str(r["kind"]) for r in self.audit(run_id)]


ITEM = {"item_id": "IT-1", "title": "lamp", "price_cents": 4200, "account": "ACC-100"}
FOUND = {"found": True, "item": ITEM}


def call(tool: str, outcome: str = "ok", **arguments: Any) -> ToolCallRecord:
    return ToolCallRecord(tool=tool, outcome=outcome, at=now_iso(), duration_ms=1.0, arguments=arguments)  # type: ignore[arg-type]


# ---------------------------------------------------------------- model planners


class StubBedrock:
    """A bedrock-runtime client whose Converse a model double answers; the requests are kept.

    Each request is first checked against botocore's Converse input shape, as a real client would check it: a
    request Bedrock's API would refuse (a re-ask built wrong, say) fails the test instead of passing offline.
    """

    def __init__(self, double: ModelDouble, caller: str = "orchestrator") -> None:
        self.double = double
        self.caller = caller
        self.requests: list[dict[str, Any]] = []
        self._shape = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")

    def converse(self, **request: Any) -> dict[str, Any]:
        report = ParamValidator().validate(request, self._shape.input_shape)
        assert not report.has_errors(), report.generate_report()
        sent = json.loads(json.dumps(request))  # what goes over the wire: JSON, a copy
        self.requests.append(sent)
        return self.double.converse(self.caller, sent)


def model_harness(double: ModelDouble, workflow: str, catalog: Catalog, **options: Any) -> tuple[Harness, StubBedrock]:
    """A harness whose planner is loaded as a deployment loads it (load_planner with services), on `double`."""
    spec = catalog.workflow(workflow)
    bedrock = StubBedrock(double)
    services = PlannerServices(catalog, spec, bedrock_runtime=lambda: bedrock)
    planner: Any = load_planner(spec, services)
    return Harness(planner, workflow, catalog, services=services, **options), bedrock
