"""The orchestrator: one invocation per stage of a run.

load one snapshot -> fold the finished stage (pure) -> decide (the planner) -> guard (pure) -> commit (one
transaction, with the new audit head signed). It is the only writer of run state and of the audit chain:
the API only leaves a start request, the state machine only records what agents report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton.audit import GENESIS_HASH, AuditChain, AuditKind, HeadSigner, digest
from baton.catalog import Catalog, WorkflowSpec
from baton.clock import now_iso
from baton.fold import ORCHESTRATOR, StageFold, fold_stage
from baton.guard import guard
from baton.models import (
    ContextEntry,
    Decision,
    Delegate,
    Fail,
    Finish,
    ModelAllowance,
    ModelUsage,
    PlanRequest,
    PlanResponse,
    RunStatus,
    RunView,
    TaskInput,
)
from baton.observability import count, logger
from baton.planner import (
    Planner,
    PlannerServices,
    PlanningSession,
    add_by_model,
    exhausted_budget,
    remaining_budget,
    share,
)
from baton.reader import StoreReader
from baton.redaction import REDACTOR
from baton.store import Commit, ConcurrentUpdate, RunMeta, RunNotFound, StartRequest, StateError, StateStore

# attempts per task: the first, then two retries of an attempt the agent reports as transient
MAX_ATTEMPTS = 3
# an Express execution lasts at most 5 minutes; its run is swept a minute after that
EXPRESS_DEADLINE_SECONDS = 6 * 60
_CLOSE_RETRIES = 3
# the actor of the audit records about a planner's answers (a model planner's invalid decisions)
PLANNER = "planner"


class ForeignExecution(StateError):
    """An execution other than the one a run belongs to asked to plan it (a replayed or injected start)."""


def execution_name(execution: str) -> str:
    """The name part of an execution ARN (standard: ...:execution:SM:NAME; express: ...:express:SM:NAME:ID)."""
    return execution.split(":")[7] if execution.count(":") >= 7 else ""


@dataclass
class _Stage:
    """What one Plan produces before it is committed."""

    meta: RunMeta
    expected_version: int | None
    chain: AuditChain
    # the values this Plan adds to the run's context (the input, or what the finished stage produced)
    new_context: dict[str, ContextEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class _Spend:
    """The run's model usage once this Plan commits: in total, by model, and its planner's part."""

    total: ModelUsage
    by_model: dict[str, ModelUsage]
    planner: ModelUsage


def _usage_detail(usage: ModelUsage) -> dict[str, Any]:
    """An audit record's model usage, when there was any (records of runs without models stay as they were)."""
    return {"model_usage": usage.model_dump()} if usage != ModelUsage() else {}


class Orchestrator:
    def __init__(
        self,
        catalog: Catalog,
        workflow: WorkflowSpec,
        store: StateStore,
        planner: Planner,
        agent_functions: dict[str, str],
        signer: HeadSigner,
        clock: Callable[[], str] = now_iso,
        epoch: Callable[[], float] = time.time,
        *,
        services: PlannerServices | None = None,
    ) -> None:
        """`services`: what the planner was loaded with (baton.planner.load_planner), so that its model calls are
        counted against the run's budget and committed with its decision; a planner without services gets none."""
        missing = sorted(set(workflow.agents) - set(agent_functions))
        if missing:
            raise StateError(f"no function configured for agents {missing}")
        self._catalog = catalog
        self._workflow = workflow
        self._store = store
        self._planner = planner
        self._services = services or PlannerServices(catalog, workflow)
        self._functions = agent_functions
        self._signer = signer
        self._clock = clock
        self._epoch = epoch

    def handle(self, request: PlanRequest) -> PlanResponse:
        if request.failure is not None:
            message = REDACTOR.redact(request.failure.error)[:200]
            return self.close(request.run_id, request.execution, f"orchestration failed: {message}")
        return self.plan(request)

    # ------------------------------------------------------------ one stage

    def plan(self, request: PlanRequest) -> PlanResponse:
        snapshot = self._store.load_snapshot(request.run_id)
        now = self._clock()
        if snapshot.meta is None:
            stage = self._begin(request, snapshot.start, now)
        else:
            meta = snapshot.meta
            if meta.workflow != self._workflow.name:
                raise StateError(f"run {meta.run_id!r} belongs to workflow {meta.workflow!r}")
            if meta.execution != request.execution:
                self._refuse_foreign(meta, request.execution, now)
            replayed = self._replayed(meta, request)
            if replayed is not None:
                return replayed
            chain = AuditChain(meta.run_id, meta.workflow, meta.audit_seq, meta.audit_head)
            stage = _Stage(meta, meta.version, chain)
        meta = stage.meta
        fold = StageFold()
        if meta.stage > 0 and snapshot.tasks:
            fold = fold_stage(self._catalog, meta, snapshot.tasks, snapshot.attempts, stage.chain, now)
            count("TaskFailures", meta.workflow, sum(o.status.value == "failed" for o in fold.outcomes))
        stage.new_context.update(fold.context)
        reader = StoreReader(
            self._store,
            meta.run_id,
            meta.schema_version,
            stage.new_context,
            fold.outcomes,
            stored=stage.expected_version is not None,
        )
        view = RunView(meta.run_id, meta.workflow, meta.stage, reader=reader)
        # the model usage the finished stage's agents reported, settled before the planner spends any
        used = meta.model_usage + fold.model_usage
        remaining = remaining_budget(self._workflow.budgets, used)
        decided, session, budget_denial = self._decide(view, remaining)
        for invalid in session.invalid:
            stage.chain.append(
                AuditKind.DENIAL,
                PLANNER,
                now,
                stage=meta.stage,
                reason=f"invalid model decision: {invalid.problem}",
                answer=invalid.number,
                answer_hash=invalid.answer_hash,
            )
            count("Denials", meta.workflow)
        if budget_denial is not None:
            stage.chain.append(AuditKind.DENIAL, ORCHESTRATOR, now, stage=meta.stage, reason=budget_denial)
            count("Denials", meta.workflow)
        spend = _Spend(
            total=used + session.usage,
            by_model=add_by_model(add_by_model(meta.model_usage_by_model, fold.usage_by_model), session.usage_by_model),
            planner=session.usage,
        )
        guarded = guard(decided, self._workflow, meta.stage)
        if guarded.denial is not None:
            stage.chain.append(AuditKind.DENIAL, ORCHESTRATOR, now, stage=meta.stage, reason=guarded.denial)
            count("Denials", meta.workflow)
        commit, response = self._apply(guarded.decision, view.read_untrusted, stage, reader, now, spend)
        commit.steps = fold.outcomes
        self._store.commit(commit)
        return response

    def _begin(self, request: PlanRequest, start: StartRequest | None, now: str) -> _Stage:
        """The run's first Plan: create the run from the API's start request, bound to this execution."""
        if start is None or request.stage != 0 or start.workflow != self._workflow.name:
            raise RunNotFound(f"no run {request.run_id!r} of workflow {self._workflow.name!r} to begin")
        if execution_name(request.execution) != request.run_id:
            raise ForeignExecution(f"execution {request.execution!r} is not named after run {request.run_id!r}")
        validated = self._workflow.input_model.model_validate(start.input).model_dump(mode="json")
        meta = RunMeta(
            run_id=start.run_id,
            workflow=start.workflow,
            status=RunStatus.RUNNING,
            version=0,
            stage=0,
            execution=request.execution,
            caller=start.caller,
            audit_seq=0,
            audit_head=GENESIS_HASH,
            audit_signature="",
            audit_key_id=self._signer.key_id,
            created_at=start.requested_at,
            updated_at=now,
            expires_at=start.expires_at,
            deadline=int(self._epoch() + EXPRESS_DEADLINE_SECONDS) if self._workflow.execution == "express" else None,
        )
        chain = AuditChain(meta.run_id, meta.workflow, 0, GENESIS_HASH)
        chain.append(
            AuditKind.RUN_STARTED,
            ORCHESTRATOR,
            now,
            input_hash=digest(validated),
            input_keys=sorted(validated),
            caller=start.caller,
            execution=request.execution,
            idempotency_key=start.idempotency_key is not None,
        )
        trusted = set(self._workflow.trusted_input_keys)
        context = {
            key: ContextEntry(value=value, source="input", trusted=key in trusted, stage=0, recorded_at=now)
            for key, value in validated.items()
        }
        return _Stage(meta, None, chain, dict(context))

    def _replayed(self, meta: RunMeta, request: PlanRequest) -> PlanResponse | None:
        """Step Functions retried a Plan whose first attempt committed: answer the same again."""
        if meta.status is RunStatus.RUNNING and meta.stage == request.stage:
            return None
        replay = meta.stage == request.stage + 1 or (
            meta.status is not RunStatus.RUNNING and meta.stage == request.stage
        )
        if replay and meta.last_plan is not None:
            return meta.last_plan
        raise StateError(f"run {meta.run_id!r} is at stage {meta.stage} ({meta.status}), not {request.stage}")

    def _refuse_foreign(self, meta: RunMeta, execution: str, now: str) -> None:
        """Record the attempt in the run's own chain, then refuse: the run keeps its one execution."""
        chain = AuditChain(meta.run_id, meta.workflow, meta.audit_seq, meta.audit_head)
        chain.append(
            AuditKind.ANOMALY, ORCHESTRATOR, now, what="another execution tried to plan this run", execution=execution
        )
        try:
            self._store.commit(
                Commit(meta=self._advanced(meta, chain, now), expected_version=meta.version, audit=chain.records)
            )
        except ConcurrentUpdate:
            logger.warning("could not record a foreign execution (the run changed meanwhile)")
        count("Anomalies", meta.workflow)
        raise ForeignExecution(f"run {meta.run_id!r} belongs to another execution")

    # ------------------------------------------------------------ planner

    def _decide(self, view: RunView, remaining: ModelAllowance) -> tuple[object, PlanningSession, str | None]:
        """The planner's answer, the session of what it spent and reported, and a budget denial if it ran out."""
        with self._services.deciding(remaining) as session:
            try:
                return self._planner.decide(view), session, None
            except Exception as error:  # a planner bug fails the run, it never leaves it hanging
                exhausted = self._exhausted(error, session)
                if exhausted is not None:
                    logger.warning("the run's model budget is exhausted", extra={"budget": exhausted})
                    return Fail(reason=exhausted), session, exhausted
                logger.exception("planner raised")
                reason = REDACTOR.redact(f"planner error: {type(error).__name__}: {error}")[:500]
                return Fail(reason=reason), session, None

    def _exhausted(self, error: Exception, session: PlanningSession) -> str | None:
        """The budget a ModelBudgetExhausted ran into, named as the workflow's budgets name it."""
        if not session.gateways:  # no model gateway was made: not a model budget
            return None
        from baton.ai.gateway import ModelBudgetExhausted

        if not isinstance(error, ModelBudgetExhausted):
            return None
        return exhausted_budget(self._workflow.budgets, session.left()) or f"model budget exhausted: {error}"[:500]

    # ------------------------------------------------------------ decision -> commit + answer

    def _apply(
        self, decision: Decision, params_untrusted: bool, stage: _Stage, reader: StoreReader, now: str, spend: _Spend
    ) -> tuple[Commit, PlanResponse]:
        meta, chain = stage.meta, stage.chain
        update: dict[str, Any] = {"model_usage": spend.total, "model_usage_by_model": spend.by_model}
        tasks: dict[int, TaskInput] = {}
        planner_usage = _usage_detail(spend.planner)
        if isinstance(decision, Delegate):
            chain.append(
                AuditKind.DECISION,
                ORCHESTRATOR,
                now,
                stage=meta.stage,
                decision="delegate",
                tasks=[
                    {"agent": t.agent, "key": t.output_key, "params_hash": digest(t.params)} for t in decision.tasks
                ],
                params_trusted=not params_untrusted,
                reason_hash=digest(decision.reason),
                **planner_usage,
            )
            next_stage = meta.stage + 1
            functions: list[str] = []
            task_functions: list[int] = []
            allowance = self._allowance(decision, spend)
            for index, task in enumerate(decision.tasks):
                given = allowance if self._catalog.agents[task.agent].model is not None else None
                tasks[index] = self._task_input(
                    task.agent, task.output_key, task.params, params_untrusted, reader, given
                )
                chain.append(
                    AuditKind.DELEGATION,
                    ORCHESTRATOR,
                    now,
                    stage=next_stage,
                    index=index,
                    agent=task.agent,
                    key=task.output_key,
                    untrusted_keys=tasks[index].untrusted_keys,
                    input_hash=digest(tasks[index].payload),
                    **({} if given is None else {"allowance": given.model_dump()}),
                )
                function = self._functions[task.agent]
                if function not in functions:
                    functions.append(function)
                task_functions.append(functions.index(function))
            response = PlanResponse(
                run_id=meta.run_id,
                stage=next_stage,
                kind="delegate",
                functions=functions,
                tasks=task_functions,
                max_concurrency=min(self._workflow.budgets.max_concurrency, len(decision.tasks)),
                max_attempts=MAX_ATTEMPTS,
                expires_at=meta.expires_at,
            )
            update |= {"stage": next_stage, "stage_tasks": len(tasks), "stage_reason": decision.reason}
            count("StagesDelegated", meta.workflow)
            count("TasksDelegated", meta.workflow, len(tasks))
        elif isinstance(decision, Finish):
            chain.append(AuditKind.DECISION, ORCHESTRATOR, now, stage=meta.stage, decision="finish", **planner_usage)
            chain.append(
                AuditKind.RUN_SUCCEEDED,
                ORCHESTRATOR,
                now,
                stage=meta.stage,
                result_hash=digest(decision.result),
                **_usage_detail(spend.total),
            )
            response = PlanResponse(run_id=meta.run_id, stage=meta.stage, kind="finish")
            update |= {"status": RunStatus.SUCCEEDED, "result": decision.result}
            count("RunsSucceeded", meta.workflow)
        else:
            chain.append(AuditKind.DECISION, ORCHESTRATOR, now, stage=meta.stage, decision="fail", **planner_usage)
            response = self._failed(meta, chain, decision.reason, now, _usage_detail(spend.total))
            update |= {"status": RunStatus.FAILED, "reason": decision.reason}
        new_meta = self._advanced(meta.model_copy(update=update | {"last_plan": response}), chain, now)
        commit = Commit(
            meta=new_meta,
            expected_version=stage.expected_version,
            context=stage.new_context,
            tasks=tasks,
            audit=chain.records,
        )
        return commit, response

    def _allowance(self, decision: Delegate, spend: _Spend) -> ModelAllowance | None:
        """Each model-backed task's share of what the run has left: an even split among the stage's model-backed
        tasks, so that concurrent tasks cannot overspend the run between them (a share of zero fails a task at its
        first call). Agents get no write access to the budget: each reports what it spent, settled at the fold."""
        backed = sum(1 for task in decision.tasks if self._catalog.agents[task.agent].model is not None)
        if not backed:
            return None
        return share(remaining_budget(self._workflow.budgets, spend.total), backed)

    def _task_input(
        self,
        agent_name: str,
        key: str,
        params: dict[str, Any],
        params_untrusted: bool,
        reader: StoreReader,
        allowance: ModelAllowance | None = None,
    ) -> TaskInput:
        """Only the context keys the agent declares, plus the planner's params, each with its provenance."""
        agent = self._catalog.agents[agent_name]
        context = {k: entry for k in agent.context_keys if (entry := reader.entry(k)) is not None}
        given = list(context)
        untrusted = {k for k in given if not context[k].trusted}
        if params_untrusted:
            untrusted |= set(params)
        return TaskInput(
            agent=agent.name,
            key=key,
            payload={k: context[k].value for k in given} | dict(params),
            untrusted_keys=sorted(untrusted),
            allowance=allowance,
        )

    def _failed(
        self, meta: RunMeta, chain: AuditChain, reason: str, now: str, detail: dict[str, Any] | None = None
    ) -> PlanResponse:
        chain.append(
            AuditKind.RUN_FAILED, ORCHESTRATOR, now, stage=meta.stage, reason_hash=digest(reason), **(detail or {})
        )
        count("RunsFailed", meta.workflow)
        return PlanResponse(run_id=meta.run_id, stage=meta.stage, kind="fail", reason=reason)

    def _advanced(self, meta: RunMeta, chain: AuditChain, now: str) -> RunMeta:
        """The run record after `chain`'s new records: next version, new head, the head's signature."""
        return meta.model_copy(
            update={
                "version": meta.version + 1,
                "updated_at": now,
                "audit_seq": chain.last_seq,
                "audit_head": chain.head,
                "audit_signature": chain.sign(self._signer, final=meta.status is not RunStatus.RUNNING),
                "audit_key_id": self._signer.key_id,
            }
        )

    # ------------------------------------------------------------ closing a run whose execution failed

    def sweep(self) -> list[str]:
        """Close the Express runs whose execution must have ended (Express executions emit no status events)."""
        closed = []
        for run_id in self._store.open_runs(self._workflow.name, int(self._epoch())):
            meta = self._store.find_meta(run_id)
            if meta is not None and meta.status is RunStatus.RUNNING:
                self.close(run_id, meta.execution, "execution timed out: an Express execution lasts at most 5 minutes")
                closed.append(run_id)
        return closed

    def close(self, run_id: str, execution: str, reason: str) -> PlanResponse:
        """Fail a run whose execution failed, timed out or was stopped, so no run is left RUNNING.

        Idempotent, and only for the run's own execution (a foreign execution's failure changes nothing).
        """
        for _ in range(_CLOSE_RETRIES):
            snapshot = self._store.load_snapshot(run_id)
            now = self._clock()
            meta = snapshot.meta
            if meta is None:
                if snapshot.start is None or execution_name(execution) != run_id:
                    return PlanResponse(run_id=run_id, stage=0, kind="fail", reason=f"no run {run_id!r} to close")
                stage = self._begin(PlanRequest(run_id=run_id, stage=0, execution=execution), snapshot.start, now)
            elif meta.execution != execution:
                return PlanResponse(run_id=run_id, stage=meta.stage, kind="fail", reason="not this run's execution")
            elif meta.status is not RunStatus.RUNNING:
                return meta.last_plan or PlanResponse(
                    run_id=run_id, stage=meta.stage, kind="fail", reason=meta.reason or ""
                )
            else:
                chain = AuditChain(meta.run_id, meta.workflow, meta.audit_seq, meta.audit_head)
                stage = _Stage(meta, meta.version, chain)
            response = self._failed(stage.meta, stage.chain, reason, now)
            new_meta = self._advanced(
                stage.meta.model_copy(update={"status": RunStatus.FAILED, "reason": reason, "last_plan": response}),
                stage.chain,
                now,
            )
            try:
                self._store.commit(
                    Commit(
                        meta=new_meta,
                        expected_version=stage.expected_version,
                        context=stage.new_context,
                        audit=stage.chain.records,
                    )
                )
            except ConcurrentUpdate:
                continue
            return response
        raise ConcurrentUpdate(f"run {run_id!r} kept changing while it was being closed")
