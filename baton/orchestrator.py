"""The orchestrator: one invocation per stage of a run.

load one snapshot -> fold the finished stage (pure) -> decide (the planner) -> guard (pure) -> commit (one
transaction, with the new audit head signed). It is the only writer of run state and of the audit chain:
the API only leaves a start request, the state machine only records what agents report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from baton import clock as _clock
from baton.approvals import (
    EXPIRED_ERROR,
    REJECTED_ERROR,
    UNAVAILABLE_ERROR,
    Approval,
    ApprovalState,
    Notifier,
    TaskToken,
    approval_id_for,
    approver_problem,
    expiry_seconds,
    shown_arguments,
    task_sha256,
    wait_seconds,
)
from baton.audit import GENESIS_HASH, AuditChain, AuditKind, HeadSigner, digest
from baton.catalog import AgentSpec, Catalog, SideEffect, WorkflowSpec
from baton.children import child_budget, child_run_id, child_start, effective_budgets, fold_children
from baton.clock import now_iso
from baton.detection import InjectionDetector, detector_for
from baton.detection.screening import flagged_payload_keys, screen
from baton.fold import ORCHESTRATOR, StageFold, fold_stage
from baton.guard import guard
from baton.models import (
    INLINE_DEFINITION,
    AwaitApproval,
    ContextEntry,
    Decision,
    Delegate,
    Fail,
    Finish,
    InlineTaskReport,
    JournalEntry,
    ModelAllowance,
    ModelUsage,
    PlanRequest,
    PlanResponse,
    PriorCall,
    RunStatus,
    RunView,
    TaskInput,
    TaskOutcome,
    TaskStatus,
    arguments_sha256,
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
from baton.store import (
    Commit,
    ConcurrentUpdate,
    RecordedAttempt,
    RunMeta,
    RunNotFound,
    RunSnapshot,
    StartRequest,
    StateError,
    StateStore,
)

# attempts per task: the first, then two retries of an attempt the agent reports as transient
MAX_ATTEMPTS = 3
# an Express execution lasts at most 5 minutes; its run is swept a minute after that
EXPRESS_DEADLINE_SECONDS = 6 * 60
_CLOSE_RETRIES = 3
# the actor of the audit records about a planner's answers (a model planner's invalid decisions)
PLANNER = "planner"
# An inline stage (DelegateInline) carries its tasks' inputs and its agents' reports in the execution's state,
# which Step Functions caps at 256 KB: both together stay under this, and each report may take at least its agent's
# output limit plus this much for its tool-call records and error (baton.agent_runner trims a report to its limit)
INLINE_STAGE_BYTES = 200_000
REPORT_HEADROOM_BYTES = 16_384


class ForeignExecution(StateError):
    """An execution other than the one a run belongs to asked to plan it (a replayed or injected start)."""


class NothingToAwait(StateError):
    """The wait state began, but no approval of the run is still pending: the state machine plans at once."""


# the first schema version whose runs keep their counted calls in CALLS#<tool> items (older ones: in the journal)
LEDGER_ITEMS_SINCE = 4


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
    # the planner read a value an injection detector flagged: its params carry the flag (TaskInput.flagged_keys)
    params_flagged: bool = False
    # approval items this Plan settles (consumed or void) and expires (if still pending), the ledgers it extends
    approvals: list[Approval] = field(default_factory=list)
    expired: list[Approval] = field(default_factory=list)
    ledgers: dict[str, list[PriorCall]] = field(default_factory=dict)
    # the execution's definition can run a stage inline (PlanRequest.definition)
    inline_capable: bool = False

    def commit(self, meta: RunMeta, steps: list[TaskOutcome], tasks: dict[int, TaskInput] | None = None) -> Commit:
        return Commit(
            meta=meta,
            expected_version=self.expected_version,
            context=self.new_context,
            steps=steps,
            tasks=tasks or {},
            audit=self.chain.records,
            approvals=self.approvals,
            expired=self.expired,
            ledgers=self.ledgers,
        )


@dataclass
class _Resolution:
    """What the people asked have decided, as far as this Plan knows."""

    approvals: list[Approval]  # the wait's approvals with their state now (the run record's copies)
    changed: bool = False  # something was decided or expired since the run record was written

    @property
    def waiting(self) -> bool:
        return any(a.state is ApprovalState.PENDING for a in self.approvals)

    @property
    def approved(self) -> list[Approval]:
        return [a for a in self.approvals if a.state is ApprovalState.APPROVED]


class _Ledger:
    """The run's successful calls of the counted tools (state-changing tools an agent under policies may call), read
    as the tasks being delegated need them; the finished stage's calls are added (and written, as CALLS#<tool>)."""

    def __init__(self, store: StateStore, meta: RunMeta, counted: frozenset[str]) -> None:
        self._store = store
        self._meta = meta
        self._counted = counted
        self._items = meta.schema_version >= LEDGER_ITEMS_SINCE
        self._calls: dict[str, list[PriorCall]] = {}
        self._journal: dict[str, list[PriorCall]] | None = None

    def add(self, calls: list[PriorCall]) -> dict[str, list[PriorCall]]:
        """Add the finished stage's calls; the ledgers to write (a run stored before them keeps none: its journal
        already holds the stage's calls)."""
        new = [c for c in calls if c.tool in self._counted]
        if not new or not self._items:
            return {}
        written: dict[str, list[PriorCall]] = {}
        for tool in sorted({c.tool for c in new}):
            self._calls[tool] = self.calls(tool) + [c for c in new if c.tool == tool]
            written[tool] = self._calls[tool]
        return written

    def calls(self, tool: str) -> list[PriorCall]:
        if tool not in self._counted:
            return []
        if not self._items:
            return self._from_journal().get(tool, [])
        if tool not in self._calls:
            self._calls[tool] = self._store.load_calls(self._meta.run_id, tool) if self._meta.version else []
        return list(self._calls[tool])

    def _from_journal(self) -> dict[str, list[PriorCall]]:
        if self._journal is None:
            self._journal = {}
            for item in self._store.load_journal(self._meta.run_id):
                if item.entry_json is None or item.execution != self._meta.execution:
                    continue
                try:
                    entry = JournalEntry.model_validate_json(item.entry_json)
                except ValueError:
                    continue
                for call in entry.tool_calls:
                    if call.outcome == "ok" and call.tool in self._counted:
                        prior = PriorCall(agent=entry.agent, tool=call.tool, stage=item.stage, arguments=call.arguments)
                        self._journal.setdefault(call.tool, []).append(prior)
        return self._journal


class _Spend(NamedTuple):
    """The run's model usage once this Plan commits: in total, by model, and its planner's part."""

    total: ModelUsage
    by_model: dict[str, ModelUsage]
    planner: ModelUsage


def _usage_detail(usage: ModelUsage) -> dict[str, Any]:
    """An audit record's model usage, when there was any (records of runs without models stay as they were)."""
    return {"model_usage": usage.model_dump()} if usage != ModelUsage() else {}


def _stored(response: PlanResponse) -> PlanResponse:
    """The answer as the run record keeps it (for a replayed Plan): without an inline stage's task inputs, which are
    the stage's TASK# items already."""
    return response.model_copy(update={"task_json": []}) if response.task_json else response


def _with_task_inputs(response: PlanResponse, tasks: dict[int, TaskInput]) -> PlanResponse:
    """A committed answer as it was given: an inline stage's task inputs, which the run record does not keep, from
    the stage's TASK# items (the snapshot of a replayed Plan holds them: its run is at that stage)."""
    if not response.inline:
        return response
    if sorted(tasks) != list(range(len(response.tasks))):
        raise StateError(f"a task of run {response.run_id!r}'s stage {response.stage} is missing")
    return response.model_copy(update={"task_json": _task_json(tasks)})


def _task_json(tasks: dict[int, TaskInput]) -> list[str]:
    """An inline stage's task inputs as its answer carries them: in task order, each as its TASK# item holds it."""
    return [tasks[index].model_dump_json() for index in sorted(tasks)]


def inline_attempts(stage: int, execution: str, reports: list[InlineTaskReport]) -> list[RecordedAttempt]:
    """An inline stage's reports as the journal items the state machine would have written (fold_stage checks them
    the same way): per task, in order, each transient attempt, then the last attempt's report or what ended it."""
    attempts: list[RecordedAttempt] = []
    for index, report in enumerate(reports):
        transient = report.transient_causes()
        for number, cause in enumerate(transient, start=1):
            attempts.append(RecordedAttempt(stage, index, number, execution, entry_json=_error_message(cause)))
        last = len(transient) + 1
        if report.report is not None:
            attempts.append(RecordedAttempt(stage, index, last, execution, entry_json=report.report.entry_json))
        else:
            number = report.attempt or last
            attempts.append(RecordedAttempt(stage, index, number, execution, error=report.error, cause=report.cause))
    return attempts


def _error_message(cause: str) -> str:
    """The report a TransientAttempt carries: its message, from the Lambda error object the cause holds (anything
    else is left as it is, and fails the report's model when folded)."""
    try:
        error = json.loads(cause)
    except ValueError:
        return cause
    message = error.get("errorMessage") if isinstance(error, dict) else None
    return message if isinstance(message, str) else cause


def _record_delegation(
    chain: AuditChain, now: str, stage: int, index: int, agent: str, key: str, task: TaskInput, **detail: Any
) -> None:
    """A task handed out (a plan's, or one re-delegated after its approval): what it was given, by hash."""
    chain.append(
        AuditKind.DELEGATION,
        ORCHESTRATOR,
        now,
        stage=stage,
        index=index,
        agent=agent,
        key=key,
        untrusted_keys=task.untrusted_keys,
        input_hash=digest(task.payload),
        **detail,
    )


def _function_index(functions: list[str], function: str) -> int:
    """The index of `function` in the stage's list of functions (the Map's payload names each once)."""
    if function not in functions:
        functions.append(function)
    return functions.index(function)


def _audited_failure(stage: _Stage, failed: TaskOutcome, now: str) -> TaskOutcome:
    """A held task that ends failed (rejected, expired, no approvers): recorded in the chain as any failed task."""
    stage.chain.append(
        AuditKind.TASK_FAILED,
        failed.agent,
        now,
        error_type=failed.error_type,
        error_hash=digest(failed.error or ""),
        stage=failed.stage,
        index=failed.index,
        key=failed.key,
        attempts=failed.attempts,
    )
    return failed


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
        epoch: Callable[[], float] = _clock.epoch,
        *,
        services: PlannerServices | None = None,
        detector: InjectionDetector | None = None,
        notifier: Notifier | None = None,
        child_machines: dict[str, str] | None = None,
    ) -> None:
        """`services`: what the planner was loaded with (baton.planner.load_planner), so that its model calls are
        counted against the run's budget and committed with its decision; a planner without services gets none."""
        missing = sorted(set(workflow.agents) - set(agent_functions))
        if missing:
            raise StateError(f"no function configured for agents {missing}")
        # the state machine of each child workflow (WorkflowSpec.children): what a child task's execution starts
        self._child_machines = {name: (child_machines or {}).get(name, "") for name in workflow.children}
        unknown = sorted(name for name, arn in self._child_machines.items() if not arn)
        if unknown:
            raise StateError(f"no state machine configured for child workflows {unknown}")
        self._catalog = catalog
        self._workflow = workflow
        self._store = store
        self._planner = planner
        self._services = services or PlannerServices(catalog, workflow)
        self._functions = agent_functions
        self._signer = signer
        self._clock = clock
        self._epoch = epoch
        self._notifier = notifier or Notifier(None, None)
        # the state-changing tools an agent of this workflow under tool-call policies may call: their successful
        # calls are counted for the policies (TaskInput.prior_calls); a workflow under no policy counts none
        self._counted = frozenset(
            tool
            for agent in (catalog.agents[name] for name in workflow.agents)
            if agent.policies is not None
            for tool in agent.tools
            if catalog.tools[tool].side_effect is not SideEffect.READ
        )
        # the workflow's injection detector (baton.detection); the runtime passes one with a bedrock-runtime client
        self._detector = detector if detector is not None else detector_for(workflow.injection_detector)

    def handle(self, request: PlanRequest) -> PlanResponse:
        if request.failure is not None:
            message = REDACTOR.redact(request.failure.error)[:200]
            return self.close(request.run_id, request.execution, f"orchestration failed: {message}")
        if request.task_token is not None:
            return self.hold(request, request.task_token)
        return self.plan(request)

    # ------------------------------------------------------------ one stage

    def plan(self, request: PlanRequest) -> PlanResponse:
        # an inline stage's reports come in the request; any other stage's are in its journal
        snapshot = self._store.load_snapshot(request.run_id, journal=request.reports is None)
        now = self._clock()
        stage = self._open(request, snapshot, now)
        if isinstance(stage, PlanResponse):  # a replay: the answer already committed
            return stage
        if request.reports is not None:
            snapshot.attempts = inline_attempts(request.stage, request.execution, request.reports)
        stage.inline_capable = request.definition >= INLINE_DEFINITION
        meta = stage.meta
        if meta.parent_run_id is not None:  # a child run's log lines name its parent (baton.children)
            logger.thread_safe_append_keys(parent_run_id=meta.parent_run_id)
        ledger = _Ledger(self._store, meta, self._counted)
        approved: list[Approval] = []
        held: list[TaskOutcome] = []
        if meta.approvals:  # the run waited for people: what did they decide?
            resolution = self._resolve(stage, now)
            if resolution.waiting:
                return self._wait_again(stage, resolution, now)
            fold = StageFold(outcomes=self._refused(stage, resolution.approvals, now))
            approved = resolution.approved
            stage.meta = meta = meta.model_copy(update={"approvals": []})
        else:
            fold, held = self._fold(stage, snapshot, ledger, now)
            meta = stage.meta  # (a stage of child workflows counts their stages)
        stage.new_context.update(fold.context)
        screen(self._detector, stage.new_context, stage.chain, now, meta.stage)  # untrusted values entering the run
        if held:
            return self._hold(stage, fold, held, now)
        if approved:
            return self._redelegate(stage, fold, approved, ledger, now)
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
        budgets = effective_budgets(self._workflow, meta)  # a child run's: capped by what its parent allotted
        remaining = remaining_budget(budgets, used)
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
        limited = self._workflow
        if budgets is not self._workflow.budgets:  # a child run's, or a parent's whose children used stages
            limited = self._workflow.model_copy(update={"budgets": budgets})
        guarded = guard(decided, limited, meta.stage, self._catalog)
        if guarded.denial is not None:
            stage.chain.append(AuditKind.DENIAL, ORCHESTRATOR, now, stage=meta.stage, reason=guarded.denial)
            count("Denials", meta.workflow)
        stage.params_flagged = view.read_flagged
        commit, response = self._apply(guarded.decision, view.read_untrusted, stage, reader, now, spend, ledger)
        commit.steps = fold.outcomes
        self._store.commit(commit)
        return response

    def _open(self, request: PlanRequest, snapshot: RunSnapshot, now: str) -> _Stage | PlanResponse:
        """The stage this Plan works on (the run's first creates the run), or the committed answer to a replay."""
        if snapshot.meta is None:
            return self._begin(request, snapshot.start, now)
        meta = snapshot.meta
        if meta.workflow != self._workflow.name:
            raise StateError(f"run {meta.run_id!r} belongs to workflow {meta.workflow!r}")
        if meta.execution != request.execution:
            self._refuse_foreign(meta, request.execution, now)
        replayed = self._replayed(meta, request, snapshot.tasks)
        if replayed is not None:
            return replayed
        return _Stage(meta, meta.version, AuditChain(meta.run_id, meta.workflow, meta.audit_seq, meta.audit_head))

    def _fold(
        self, stage: _Stage, snapshot: RunSnapshot, ledger: _Ledger, now: str
    ) -> tuple[StageFold, list[TaskOutcome]]:
        """The finished stage, folded; its grants settled and its counted calls added; the tasks a policy held."""
        meta = stage.meta
        if meta.stage == 0 or not snapshot.tasks:
            return StageFold(), []
        children = {i: t for i, t in snapshot.tasks.items() if t.child_run_id is not None}
        agent_tasks = {i: t for i, t in snapshot.tasks.items() if t.child_run_id is None}
        attempts = [a for a in snapshot.attempts if a.index in agent_tasks] if children else snapshot.attempts
        fold = fold_stage(self._catalog, meta, agent_tasks, attempts, stage.chain, now) if agent_tasks else StageFold()
        if children:  # tasks of child workflows: folded from each child's run record (baton.children)
            folded = fold_children(self._store, meta, children, snapshot.attempts, stage.chain, now)
            fold.outcomes = sorted(fold.outcomes + folded.outcomes, key=lambda o: o.index)
            fold.context.update(folded.context)
            fold.model_usage = fold.model_usage + folded.model_usage
            fold.usage_by_model = add_by_model(fold.usage_by_model, folded.usage_by_model)
            stage.meta = meta = meta.model_copy(update={"child_stages": meta.child_stages + folded.stages})
        count("TaskFailures", meta.workflow, sum(o.status.value == "failed" for o in fold.outcomes))
        self._settle_grants(stage, fold)
        stage.ledgers = ledger.add(fold.calls)
        held = [o for o in fold.outcomes if o.status is TaskStatus.NEEDS_APPROVAL]
        if held and self._workflow.approvals is None:
            fold.outcomes = [self._unavailable(stage, o, now) if o in held else o for o in fold.outcomes]
            return fold, []
        return fold, held

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
            caller_source_identity=start.caller_source_identity,
            parent_run_id=start.parent_run_id,
            budget=start.budget,
            trigger=start.trigger,
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
            **({} if start.parent_run_id is None else {"parent_run_id": start.parent_run_id}),
            **({} if start.budget is None else {"budget": start.budget.model_dump()}),
            **({} if start.trigger is None else {"trigger": start.trigger.model_dump()}),
        )
        trusted = set(self._workflow.trusted_input_keys) - set(start.untrusted_keys)
        context = {
            key: ContextEntry(value=value, source="input", trusted=key in trusted, stage=0, recorded_at=now)
            for key, value in validated.items()
        }
        return _Stage(meta, None, chain, dict(context))

    def _replayed(self, meta: RunMeta, request: PlanRequest, tasks: dict[int, TaskInput]) -> PlanResponse | None:
        """Step Functions retried a Plan whose first attempt committed: answer the same again."""
        if meta.status is RunStatus.RUNNING and meta.stage == request.stage:
            return None
        replay = meta.stage == request.stage + 1 or (
            meta.status is not RunStatus.RUNNING and meta.stage == request.stage
        )
        if replay and meta.last_plan is not None:
            return _with_task_inputs(meta.last_plan, tasks)
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

    def _inlined(self, stage: _Stage, response: PlanResponse, tasks: dict[int, TaskInput]) -> PlanResponse:
        """`response`, inline if the execution can run the stage so: its tasks are agents' (a child workflow's run
        is awaited by reference) and their inputs and reports fit the state (INLINE_STAGE_BYTES)."""
        if not stage.inline_capable or any(task.child_run_id is not None for task in tasks.values()):
            return response
        task_json = _task_json(tasks)
        limit = (INLINE_STAGE_BYTES - sum(len(text.encode()) for text in task_json)) // len(task_json)
        needed = max(self._catalog.agents[task.agent].max_output_bytes for task in tasks.values())
        if limit < needed + REPORT_HEADROOM_BYTES:
            return response
        return response.model_copy(update={"inline": True, "task_json": task_json, "report_limit": limit})

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
        self,
        decision: Decision,
        params_untrusted: bool,
        stage: _Stage,
        reader: StoreReader,
        now: str,
        spend: _Spend,
        ledger: _Ledger | None = None,
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
                **({} if decision.reconcile is None else {"reconcile": decision.reconcile.model_dump(mode="json")}),
            )
            next_stage = meta.stage + 1
            functions: list[str] = []
            task_functions: list[int] = []
            allowance = self._allowance(decision, spend, meta)
            children = sum(1 for task in decision.tasks if task.agent in self._child_machines)
            for index, task in enumerate(decision.tasks):
                if task.agent in self._child_machines:  # a child workflow (baton.children)
                    given = allowance
                    tasks[index] = self._child_task(
                        task, index, next_stage, children, params_untrusted, stage, now, allowance
                    )
                else:
                    given = allowance if self._catalog.agents[task.agent].model is not None else None
                    tasks[index] = self._task_input(
                        task.agent,
                        task.output_key,
                        task.params,
                        params_untrusted,
                        reader,
                        given,
                        stage.params_flagged,
                        ledger=ledger,
                    )
                _record_delegation(
                    chain,
                    now,
                    next_stage,
                    index,
                    task.agent,
                    task.output_key,
                    tasks[index],
                    **({} if given is None else {"allowance": given.model_dump()}),
                    **({} if tasks[index].child_run_id is None else {"child_run_id": tasks[index].child_run_id}),
                )
                function = self._child_machines.get(task.agent) or self._functions[task.agent]
                task_functions.append(_function_index(functions, function))
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
            response = self._inlined(stage, response, tasks)
            update |= {
                "stage": next_stage,
                "stage_tasks": len(tasks),
                "stage_reason": decision.reason,
                "stage_reconcile": decision.reconcile,
            }
            count("StagesDelegated", meta.workflow)
            count("TasksDelegated", meta.workflow, len(tasks))
        elif isinstance(decision, AwaitApproval):
            response, tasks, approval = self._await(decision, params_untrusted, stage, reader, now, ledger)
            update |= {
                "stage": response.stage,
                "stage_tasks": 1,
                "stage_reason": decision.reason,
                "approvals": [approval.for_run_record()],
            }
            stage.approvals.append(approval)
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
            update |= {"status": RunStatus.SUCCEEDED, "result": decision.result, "result_trusted": not params_untrusted}
            count("RunsSucceeded", meta.workflow)
        else:
            chain.append(AuditKind.DECISION, ORCHESTRATOR, now, stage=meta.stage, decision="fail", **planner_usage)
            response = self._failed(meta, chain, decision.reason, now, _usage_detail(spend.total))
            update |= {"status": RunStatus.FAILED, "reason": decision.reason, "result_trusted": not params_untrusted}
        new_meta = self._advanced(meta.model_copy(update=update | {"last_plan": _stored(response)}), chain, now)
        return stage.commit(new_meta, [], tasks), response

    def _allowance(self, decision: Delegate, spend: _Spend, meta: RunMeta | None = None) -> ModelAllowance | None:
        """Each model-backed task's share of what the run has left: an even split among the stage's model-backed
        tasks, so that concurrent tasks cannot overspend the run between them (a share of zero fails a task at its
        first call). Agents get no write access to the budget: each reports what it spent, settled at the fold."""
        backed = sum(
            1
            for task in decision.tasks
            if task.agent in self._child_machines or self._catalog.agents[task.agent].model is not None
        )
        if not backed:
            return None
        budgets = self._workflow.budgets if meta is None else effective_budgets(self._workflow, meta)
        return share(remaining_budget(budgets, spend.total), backed)

    def _child_task(
        self,
        task: Any,
        index: int,
        next_stage: int,
        children: int,
        params_untrusted: bool,
        stage: _Stage,
        now: str,
        allowance: ModelAllowance | None,
    ) -> TaskInput:
        """A task for a child workflow: its start request written (the parent's caller, a budget drawn from the
        parent's), and the task item naming the child run the state machine starts."""
        meta = stage.meta
        workflow = self._catalog.workflow(task.agent)
        run_id = child_run_id(workflow.name, meta.run_id, next_stage, index)
        task_input = TaskInput(
            agent=workflow.name,
            key=task.output_key,
            payload=dict(task.params),
            untrusted_keys=sorted(task.params) if params_untrusted else [],
            child_run_id=run_id,
        )
        model = allowance or share(remaining_budget(effective_budgets(self._workflow, meta), meta.model_usage), 1)
        budget = child_budget(effective_budgets(self._workflow, meta), next_stage, children, model)
        request = child_start(meta, workflow, run_id, task_input, budget, now)
        with suppress(ConcurrentUpdate):  # a replayed Plan wrote it already (the id is fixed by this task)
            self._store.put_start(request)
        return task_input

    def _task_input(
        self,
        agent_name: str,
        key: str,
        params: dict[str, Any],
        params_untrusted: bool,
        reader: StoreReader,
        allowance: ModelAllowance | None = None,
        params_flagged: bool = False,
        *,
        ledger: _Ledger | None = None,
    ) -> TaskInput:
        """Only the context keys the agent declares, plus the planner's params, each with its provenance; for an
        agent under policies, the run's earlier calls of the state-changing tools it may call."""
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
            flagged_keys=flagged_payload_keys(context, params, params_flagged),
            prior_calls=self._prior_calls(agent, ledger),
        )

    def _prior_calls(self, agent: AgentSpec, ledger: _Ledger | None) -> list[PriorCall]:
        if ledger is None or agent.policies is None:
            return []
        calls = [call for tool in agent.tools for call in ledger.calls(tool)]
        return sorted(calls, key=lambda c: c.stage)

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

    # ------------------------------------------------------------ human approval (baton.approvals)

    def hold(self, request: PlanRequest, task_token: str) -> PlanResponse:
        """The wait state began: store its task token for the API, tell the approvers not told yet.

        Raises NothingToAwait when no approval of the wait is still pending (all decided before the token was
        stored): the wait state then goes straight back to Plan. The token is stored before the approvals are
        read, so a decision is seen either here or by the API's resume, never by neither.
        """
        meta = self._store.find_meta(request.run_id)
        if meta is None or meta.execution != request.execution:
            raise NothingToAwait(f"run {request.run_id!r} of this execution waits for nothing")
        if meta.status is not RunStatus.RUNNING or meta.stage != request.stage or not meta.approvals:
            raise NothingToAwait(f"run {request.run_id!r} waits for no approval at stage {request.stage}")
        open_ids = [a.approval_id for a in meta.approvals if a.state is ApprovalState.PENDING]
        previous = self._store.load_task_token(meta.run_id)
        notified = set(previous.notified) if previous is not None and previous.stage == meta.stage else set()
        fresh = [a for a in self._store.load_approvals(meta.run_id, open_ids) if a.approval_id not in notified]
        if fresh:
            try:
                notified |= set(self._notifier.notify(fresh))
            except Exception:  # approvers are told again at the next wait; the audit already holds the request
                logger.exception("could not notify the approvers")
        token = TaskToken(
            run_id=meta.run_id, stage=meta.stage, token=task_token, notified=sorted(notified), at=now_iso()
        )
        self._store.put_task_token(token, meta.expires_at)
        now = self._epoch()
        items = self._store.load_approvals(meta.run_id, open_ids)
        if not any(a.state is ApprovalState.PENDING and now < a.expires_at for a in items):
            raise NothingToAwait(f"every approval of run {meta.run_id!r} is already decided or expired")
        return meta.last_plan or PlanResponse(run_id=meta.run_id, stage=meta.stage, kind="await_approval")

    def _hold(self, stage: _Stage, fold: StageFold, held: list[TaskOutcome], now: str) -> PlanResponse:
        """Tasks whose call a policy held: one approval each, and the run waits (the others' outcomes are kept)."""
        meta, chain = stage.meta, stage.chain
        epoch = self._epoch()
        approvals = []
        for outcome in held:
            pending = outcome.pending_approval
            if pending is None:  # the fold checked this
                raise StateError("a held task without its pending call")
            seconds = expiry_seconds(pending.expires_in_seconds, self._workflow, meta.expires_at, epoch)
            approval = Approval(
                approval_id=approval_id_for(meta.run_id, meta.stage, outcome.index, pending.arguments_sha256),
                run_id=meta.run_id,
                workflow=meta.workflow,
                stage=meta.stage,
                index=outcome.index,
                agent=outcome.agent,
                key=outcome.key,
                tool=pending.tool,
                arguments_sha256=pending.arguments_sha256,
                arguments=shown_arguments(pending.arguments),
                # shown exactly as approved (nothing was redacted from them), or not: the approver is told
                arguments_exact=arguments_sha256(pending.tool, pending.arguments) == pending.arguments_sha256,
                policy_ids=[REDACTOR.redact(p)[:64] for p in pending.policy_ids[:20]],
                reason=REDACTOR.redact(pending.reason)[:300],
                held_by="policy",
                requested_at=now,
                expires_at=int(epoch) + seconds,
                attempts=outcome.attempts,
                trusted=outcome.trusted,
            )
            self._requested(chain, approval, now)
            approvals.append(approval)
        response = self._awaiting(meta, approvals, epoch)
        stage.approvals += approvals
        update = {
            "model_usage": meta.model_usage + fold.model_usage,
            "model_usage_by_model": add_by_model(meta.model_usage_by_model, fold.usage_by_model),
            "approvals": [a.for_run_record() for a in approvals],
            "last_plan": response,
        }
        new_meta = self._advanced(meta.model_copy(update=update), chain, now)
        steps = [o for o in fold.outcomes if o.status is not TaskStatus.NEEDS_APPROVAL]
        self._store.commit(stage.commit(new_meta, steps))
        count("ApprovalsRequested", meta.workflow, len(approvals))
        return response

    def _await(
        self,
        decision: AwaitApproval,
        params_untrusted: bool,
        stage: _Stage,
        reader: StoreReader,
        now: str,
        ledger: _Ledger | None,
    ) -> tuple[PlanResponse, dict[int, TaskInput], Approval]:
        """A planner's AwaitApproval: the task is written as the next stage's one task, held (no Map runs it)."""
        meta, chain = stage.meta, stage.chain
        task = decision.task
        epoch = self._epoch()
        held_stage = meta.stage + 1
        task_input = self._task_input(
            task.agent,
            task.output_key,
            task.params,
            params_untrusted,
            reader,
            None,
            stage.params_flagged,
            ledger=ledger,
        )
        if decision.tool is None:
            bound, shown, exact = task_sha256(task.agent, task.output_key, task.params), dict(task.params), True
        else:
            validated = self._catalog.tools[decision.tool].arguments.model_validate(decision.arguments)
            dumped = validated.model_dump(mode="json")
            redacted = REDACTOR.redact_json(dumped)
            bound, shown, exact = arguments_sha256(decision.tool, dumped), redacted, redacted == dumped
        seconds = expiry_seconds(decision.expires_in_seconds, self._workflow, meta.expires_at, epoch)
        approval = Approval(
            approval_id=approval_id_for(meta.run_id, held_stage, 0, bound),
            run_id=meta.run_id,
            workflow=meta.workflow,
            stage=held_stage,
            index=0,
            agent=task.agent,
            key=task.output_key,
            tool=decision.tool,
            arguments_sha256=bound,
            arguments=shown_arguments(shown),
            arguments_exact=exact,
            reason=REDACTOR.redact(decision.reason)[:300],
            held_by="planner",
            requested_at=now,
            expires_at=int(epoch) + seconds,
            trusted=not task_input.untrusted_keys,
        )
        chain.append(
            AuditKind.DECISION,
            ORCHESTRATOR,
            now,
            stage=meta.stage,
            decision="await_approval",
            agent=task.agent,
            key=task.output_key,
            params_hash=digest(task.params),
            params_trusted=not params_untrusted,
            reason_hash=digest(decision.reason),
        )
        self._requested(chain, approval, now)
        count("ApprovalsRequested", meta.workflow)
        return self._awaiting(meta, [approval], epoch, held_stage), {0: task_input}, approval

    def _requested(self, chain: AuditChain, approval: Approval, now: str) -> None:
        chain.append(
            AuditKind.APPROVAL_REQUESTED,
            ORCHESTRATOR,
            now,
            approval_id=approval.approval_id,
            stage=approval.stage,
            index=approval.index,
            agent=approval.agent,
            tool=approval.tool,
            arguments_sha256=approval.arguments_sha256,
            arguments_exact=approval.arguments_exact,
            policy_ids=list(approval.policy_ids),
            held_by=approval.held_by,
            reason_hash=digest(approval.reason),
            expires_at=approval.expires_at,
        )

    def _awaiting(
        self, meta: RunMeta, approvals: list[Approval], epoch: float, stage: int | None = None
    ) -> PlanResponse:
        pending = [a for a in approvals if a.state is ApprovalState.PENDING]
        return PlanResponse(
            run_id=meta.run_id,
            stage=meta.stage if stage is None else stage,
            kind="await_approval",
            approvals=[a.approval_id for a in pending],
            wait_seconds=wait_seconds(pending, epoch),
            expires_at=meta.expires_at,
        )

    def _resolve(self, stage: _Stage, now: str) -> _Resolution:
        """Each approval of the wait as the API left it: decided (checked again: by a declared approver who did not
        start the run, in time, about the same action), expired, or still pending. Decisions are audited here."""
        meta, chain = stage.meta, stage.chain
        epoch = self._epoch()
        open_ids = [a.approval_id for a in meta.approvals if a.state is ApprovalState.PENDING]
        items = {a.approval_id: a for a in self._store.load_approvals(meta.run_id, open_ids)}
        resolution = _Resolution(approvals=[])
        for known in meta.approvals:
            if known.state is not ApprovalState.PENDING:
                resolution.approvals.append(known)
                continue
            item = items.get(known.approval_id)
            problem = self._decision_problem(meta, known, item)
            if item is not None and problem is None and item.state is ApprovalState.PENDING:
                if epoch < known.expires_at:
                    resolution.approvals.append(known)
                    continue
                stage.expired.append(item.model_copy(update={"state": ApprovalState.EXPIRED}))
                chain.append(
                    AuditKind.APPROVAL_EXPIRED,
                    ORCHESTRATOR,
                    now,
                    approval_id=known.approval_id,
                    stage=known.stage,
                    index=known.index,
                    expires_at=known.expires_at,
                )
                resolution.approvals.append(known.model_copy(update={"state": ApprovalState.EXPIRED}))
                resolution.changed = True
                count("ApprovalsExpired", meta.workflow)
                continue
            if problem is not None or item is None:  # refused, fail closed: the action does not run
                chain.append(
                    AuditKind.ANOMALY,
                    ORCHESTRATOR,
                    now,
                    what=f"approval decision refused: {problem}",
                    approval_id=known.approval_id,
                    approver=None if item is None else item.approver,
                )
                count("Anomalies", meta.workflow)
                decided = known.model_copy(
                    update={"state": ApprovalState.REJECTED, "decision_reason": f"refused by Baton: {problem}"}
                )
            else:
                decided = known.model_copy(
                    update={
                        "state": item.state,
                        "approver": item.approver,
                        "approver_source_identity": item.approver_source_identity,
                        "decided_at": item.decided_at,
                        "decided_epoch": item.decided_epoch,
                        "decision_reason": item.decision_reason,
                    }
                )
            chain.append(
                AuditKind.APPROVAL_DECIDED,
                decided.approver or ORCHESTRATOR,
                now,
                approval_id=decided.approval_id,
                stage=decided.stage,
                index=decided.index,
                decision="approved" if decided.state is ApprovalState.APPROVED else "rejected",
                approver=decided.approver,
                **(
                    {"approver_source_identity": decided.approver_source_identity}
                    if decided.approver_source_identity
                    else {}
                ),
                decided_at=decided.decided_at,
                reason_hash=digest(decided.decision_reason),
            )
            resolution.approvals.append(decided)
            resolution.changed = True
        return resolution

    def _decision_problem(self, meta: RunMeta, known: Approval, item: Approval | None) -> str | None:
        """Why the API's record of a decision is not believed (None: it is, or there is none yet)."""
        if item is None:
            return "the approval's record is missing"
        if item.binding() != known.binding():
            return "the approval's record does not match what was held"
        if item.state is ApprovalState.PENDING:
            return None
        if item.state not in (ApprovalState.APPROVED, ApprovalState.REJECTED):
            return f"the approval's record says {item.state.value} before the orchestrator settled it"
        if item.approver is None or item.decided_epoch is None:
            return "the decision names no approver"
        if item.decided_epoch >= known.expires_at:
            return "the decision came after the approval expired"
        from baton.approvals import Identity

        return approver_problem(self._workflow, meta, Identity(item.approver, item.approver_source_identity))

    def _wait_again(self, stage: _Stage, resolution: _Resolution, now: str) -> PlanResponse:
        """Some approvals are still pending: record what was decided meanwhile, and wait for the rest."""
        meta = stage.meta
        response = self._awaiting(meta, resolution.approvals, self._epoch())
        if not resolution.changed:
            return response
        update = {"approvals": resolution.approvals, "last_plan": response}
        self._store.commit(stage.commit(self._advanced(meta.model_copy(update=update), stage.chain, now), []))
        return response

    def _refused(self, stage: _Stage, approvals: list[Approval], now: str) -> list[TaskOutcome]:
        """The outcome of each held task whose approval was rejected or expired: what the planner sees."""
        outcomes = []
        for approval in approvals:
            if approval.state is ApprovalState.APPROVED:
                continue
            if approval.state is ApprovalState.EXPIRED:
                error_type, error = EXPIRED_ERROR, f"no approver decided before {approval.expires_at} (epoch seconds)"
            else:
                why = REDACTOR.redact(approval.decision_reason)[:300] or "no reason given"
                error_type, error = REJECTED_ERROR, f"the approval was rejected: {why}"
            outcomes.append(self._held_failed(stage, approval, error_type, error, now))
        return outcomes

    def _unavailable(self, stage: _Stage, outcome: TaskOutcome, now: str) -> TaskOutcome:
        """A held call in a workflow that declares no approvers: the task fails (nobody could approve it)."""
        tool = outcome.pending_approval.tool if outcome.pending_approval is not None else "?"
        error = f"a policy holds tool {tool!r} for approval, but workflow {self._workflow.name!r} declares no approvers"
        failed = outcome.model_copy(
            update={"status": TaskStatus.FAILED, "error_type": UNAVAILABLE_ERROR, "error": error}
        )
        return _audited_failure(stage, failed, now)

    def _held_failed(self, stage: _Stage, approval: Approval, error_type: str, error: str, now: str) -> TaskOutcome:
        outcome = TaskOutcome(
            stage=approval.stage,
            index=approval.index,
            agent=approval.agent,
            key=approval.key,
            status=TaskStatus.FAILED,
            attempts=approval.attempts,
            error_type=error_type,
            error=error,
            started_at=approval.requested_at,
            ended_at=now,
            trusted=approval.trusted,
            reason=stage.meta.stage_reason,
        )
        return _audited_failure(stage, outcome, now)

    def _redelegate(
        self, stage: _Stage, fold: StageFold, approved: list[Approval], ledger: _Ledger, now: str
    ) -> PlanResponse:
        """Approved: each held task runs again as the next stage, carrying its single-use grant (one attempt: a
        retried attempt could use the grant twice). The planner is asked once that stage is folded."""
        meta, chain = stage.meta, stage.chain
        next_stage = meta.stage + 1
        if next_stage > self._workflow.budgets.max_stages:
            reason = f"run exceeded its budget of {self._workflow.budgets.max_stages} stages"
            chain.append(AuditKind.DENIAL, ORCHESTRATOR, now, stage=meta.stage, reason=reason)
            stage.approvals += [a.model_copy(update={"state": ApprovalState.VOID}) for a in self._items(approved)]
            spend = _Spend(meta.model_usage, meta.model_usage_by_model, ModelUsage())
            commit, response = self._apply(Fail(reason=f"denied: {reason}"), False, stage, None, now, spend)  # type: ignore[arg-type]
            commit.steps = fold.outcomes
            self._store.commit(commit)
            return response
        epoch = self._epoch()
        chain.append(
            AuditKind.DECISION,
            ORCHESTRATOR,
            now,
            stage=meta.stage,
            decision="delegate",
            approved=[a.approval_id for a in approved],
        )
        backed = sum(1 for a in approved if self._catalog.agents[a.agent].model is not None)
        allowance = share(remaining_budget(self._workflow.budgets, meta.model_usage), backed) if backed else None
        tasks: dict[int, TaskInput] = {}
        functions: list[str] = []
        task_functions: list[int] = []
        for index, approval in enumerate(approved):
            original = self._store.load_task(meta.run_id, approval.stage, approval.index)
            if original is None:
                raise StateError(f"the task held by approval {approval.approval_id} is missing")
            agent = self._catalog.agents[approval.agent]
            grant = approval.grant(epoch, agent.timeout_seconds * MAX_ATTEMPTS)
            tasks[index] = original.model_copy(
                update={
                    "grants": [] if grant is None else [grant],
                    "prior_calls": self._prior_calls(agent, ledger),
                    "allowance": allowance if agent.model is not None else None,
                }
            )
            _record_delegation(
                chain,
                now,
                next_stage,
                index,
                approval.agent,
                approval.key,
                tasks[index],
                approval_id=approval.approval_id,
                **({} if grant is None else {"grant_id": grant.grant_id}),
            )
            task_functions.append(_function_index(functions, self._functions[approval.agent]))
        response = PlanResponse(
            run_id=meta.run_id,
            stage=next_stage,
            kind="delegate",
            functions=functions,
            tasks=task_functions,
            max_concurrency=min(self._workflow.budgets.max_concurrency, len(tasks)),
            max_attempts=1,
            expires_at=meta.expires_at,
        )
        response = self._inlined(stage, response, tasks)
        update = {
            "stage": next_stage,
            "stage_tasks": len(tasks),
            "approvals": [],
            "last_plan": _stored(response),
            "stage_reconcile": None,  # a re-delegated stage holds only the approved tasks: nothing to reconcile
        }
        new_meta = self._advanced(meta.model_copy(update=update), chain, now)
        self._store.commit(stage.commit(new_meta, fold.outcomes, tasks))
        count("StagesDelegated", meta.workflow)
        count("TasksDelegated", meta.workflow, len(tasks))
        return response

    def _items(self, approvals: list[Approval]) -> list[Approval]:
        if not approvals:
            return []
        return self._store.load_approvals(approvals[0].run_id, [a.approval_id for a in approvals])

    def _settle_grants(self, stage: _Stage, fold: StageFold) -> None:
        """The grants the folded stage carried, each now consumed or void: so written on its approval."""
        if not fold.settled:
            return
        by_id = {
            a.approval_id: a for a in self._store.load_approvals(stage.meta.run_id, [g.grant_id for g in fold.settled])
        }
        for settled in fold.settled:
            approval = by_id.get(settled.grant_id)
            if approval is not None:
                state = ApprovalState.CONSUMED if settled.consumed else ApprovalState.VOID
                stage.approvals.append(approval.model_copy(update={"state": state}))

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
