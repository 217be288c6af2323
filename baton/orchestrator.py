"""The orchestrator: fold the finished stage into the run's state, ask the planner, guard, commit, answer.

One invocation per stage. It is the only writer of run state and of the audit chain; agents only
journal their attempts, which the orchestrator records with provenance here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from baton.audit import AuditChain, AuditKind
from baton.catalog import Catalog, WorkflowSpec
from baton.models import (
    ContextEntry,
    Decision,
    Delegate,
    Fail,
    Finish,
    JournalEntry,
    PlanRequest,
    PlanResponse,
    RunStatus,
    RunView,
    TaskInput,
    TaskOutcome,
    TaskStatus,
    invalid_fields,
)
from baton.observability import count, logger
from baton.planner import Planner
from baton.redaction import REDACTOR
from baton.state import (
    MAX_VALUE_BYTES,
    Item,
    RunMeta,
    StateError,
    StateStore,
    audit_item,
    context_item,
    step_item,
    task_item,
)
from baton.tools import now_iso

ORCHESTRATOR = "orchestrator"


class Orchestrator:
    def __init__(
        self,
        catalog: Catalog,
        workflow: WorkflowSpec,
        store: StateStore,
        planner: Planner,
        agent_functions: dict[str, str],
        clock: Callable[[], str] = now_iso,
    ) -> None:
        missing = sorted(set(workflow.agents) - set(agent_functions))
        if missing:
            raise StateError(f"no function configured for agents {missing}")
        self._catalog = catalog
        self._workflow = workflow
        self._store = store
        self._planner = planner
        self._functions = agent_functions
        self._clock = clock

    def plan(self, request: PlanRequest) -> PlanResponse:
        meta = self._store.load_meta(request.run_id)
        if meta.workflow != self._workflow.name:
            raise StateError(f"run {meta.run_id!r} belongs to workflow {meta.workflow!r}")
        if meta.status is not RunStatus.RUNNING or meta.stage != request.stage:
            # Step Functions retried a Plan whose first attempt already committed: answer the same again
            replay = meta.stage == request.stage + 1 or (
                meta.status is not RunStatus.RUNNING and meta.stage == request.stage
            )
            if replay and meta.last_plan is not None:
                return meta.last_plan
            raise StateError(f"run {meta.run_id!r} is at stage {meta.stage} ({meta.status}), not {request.stage}")

        chain = AuditChain(meta.run_id, meta.audit_seq, meta.audit_head)
        items: list[Item] = []
        context = self._store.load_context(meta.run_id)
        history = self._store.load_history(meta.run_id)
        if meta.stage > 0:
            outcomes = self._fold_stage(meta, chain, items, context)
            history.extend(outcomes)
        view = RunView(run_id=meta.run_id, workflow=meta.workflow, stage=meta.stage, context=context, history=history)
        decision = self._guard(self._decide(view), meta, chain)
        response, new_meta = self._apply(decision, meta, context, chain, items)
        items.extend(audit_item(record, meta.expires_at) for record in chain.records)
        self._store.commit(new_meta, meta.version, items)
        return response

    # ------------------------------------------------------------ stage results -> state

    def _fold_stage(
        self, meta: RunMeta, chain: AuditChain, items: list[Item], context: dict[str, ContextEntry]
    ) -> list[TaskOutcome]:
        tasks = self._store.load_stage_tasks(meta.run_id, meta.stage, meta.stage_agents)
        by_agent: dict[int, list[JournalEntry]] = {index: [] for index in tasks}
        by_state_machine: dict[int, list[JournalEntry]] = {index: [] for index in tasks}
        for raw in self._store.load_journal(meta.run_id, meta.stage, meta.stage_agents):
            entry = self._agent_entry(raw)
            if entry is not None and entry.index in by_agent and entry.agent == tasks[entry.index].agent:
                by_agent[entry.index].append(entry)
        for raw in self._store.load_failures(meta.run_id, meta.stage):
            entry = self._state_machine_entry(raw, meta.stage, tasks)
            if entry is not None:
                by_state_machine[entry.index].append(entry)
        outcomes = []
        for index, task in sorted(tasks.items()):
            attempts = sorted(by_agent[index], key=lambda e: e.started_at)
            outcome = self._record_task(meta, chain, items, context, index, task, attempts, by_state_machine[index])
            items.append(step_item(meta.run_id, outcome, meta.expires_at))
            outcomes.append(outcome)
        failed = sum(o.status is TaskStatus.FAILED for o in outcomes)
        count("TaskFailures", meta.workflow, failed)
        return outcomes

    def _agent_entry(self, raw: dict[str, Any]) -> JournalEntry | None:
        try:
            return JournalEntry.model_validate_json(raw["entry_json"]["S"])
        except ValidationError:
            logger.warning("discarded a malformed journal entry", extra={"sk": raw["sk"]["S"]})
            return None

    def _state_machine_entry(self, raw: dict[str, Any], stage: int, tasks: dict[int, TaskInput]) -> JournalEntry | None:
        """An entry written by the state machine's Catch: the attempts crashed, timed out or all failed."""
        _, index, entered_at, _ = raw["sk"]["S"].split("#", 3)
        task = tasks.get(int(index))
        if task is None:
            return None
        return JournalEntry(
            stage=stage,
            index=int(index),
            agent=task.agent,
            status=TaskStatus.FAILED,
            started_at=entered_at,
            ended_at=entered_at,
            error_type=raw.get("error", {}).get("S", "States.TaskFailed"),
            error=_cause_message(raw.get("cause", {}).get("S", "")),
        )

    def _record_task(
        self,
        meta: RunMeta,
        chain: AuditChain,
        items: list[Item],
        context: dict[str, ContextEntry],
        index: int,
        task: TaskInput,
        attempts: list[JournalEntry],
        catches: list[JournalEntry],
    ) -> TaskOutcome:
        entries = attempts or catches
        for entry in attempts:
            for call in entry.tool_calls:
                kind = AuditKind.DENIAL if call.outcome == "denied" else AuditKind.TOOL_CALL
                detail = call.model_dump(mode="json", exclude={"at"})
                chain.append(kind, entry.agent, call.at, stage=meta.stage, index=index, **detail)
        succeeded = next((e for e in reversed(entries) if e.status is TaskStatus.SUCCEEDED), None)
        now = self._clock()
        outcome = TaskOutcome(
            stage=meta.stage,
            index=index,
            agent=task.agent,
            key=task.key,
            status=TaskStatus.FAILED,
            attempts=max(len(attempts), 1),
            started_at=entries[0].started_at if entries else now,
            ended_at=entries[-1].ended_at if entries else now,
        )
        audit = {"stage": meta.stage, "index": index, "key": task.key, "attempts": outcome.attempts}
        failure: JournalEntry | None = entries[-1] if entries else None
        if succeeded is not None and succeeded.output is not None:
            output_problem = self._output_problem(task.agent, succeeded.output)
            if output_problem is None:
                value = ContextEntry(
                    value=succeeded.output,
                    source=task.agent,
                    trusted=succeeded.output_trusted,
                    stage=meta.stage,
                    recorded_at=now,
                )
                context[task.key] = value
                items.append(context_item(meta.run_id, task.key, value, meta.expires_at))
                chain.append(AuditKind.TASK_SUCCEEDED, task.agent, now, trusted=succeeded.output_trusted, **audit)
                return outcome.model_copy(update={"status": TaskStatus.SUCCEEDED, "ended_at": succeeded.ended_at})
            failure = succeeded.model_copy(update={"error_type": "AgentOutputInvalid", "error": output_problem})
        error_type = failure.error_type if failure else "NoResult"
        error = failure.error if failure else "the task left no journal entry"
        chain.append(AuditKind.TASK_FAILED, task.agent, now, error_type=error_type, error=error, **audit)
        return outcome.model_copy(update={"error_type": error_type, "error": error})

    def _output_problem(self, agent_name: str, output: dict[str, Any]) -> str | None:
        """Re-validate what the agent journaled: a compromised agent cannot smuggle other shapes into state."""
        try:
            self._catalog.agents[agent_name].output_model.model_validate(output)
        except ValidationError as error:
            return "output failed its model: " + invalid_fields(error)
        return None

    # ------------------------------------------------------------ planner and guardrails

    def _decide(self, view: RunView) -> Decision:
        try:
            return self._planner.decide(view)
        except Exception as error:  # a planner bug fails the run, it never leaves it hanging
            logger.exception("planner raised")
            return Fail(reason=REDACTOR.redact(f"planner error: {type(error).__name__}: {error}")[:500])

    def _guard(self, decision: Decision, meta: RunMeta, chain: AuditChain) -> Decision:
        budgets = self._workflow.budgets
        if isinstance(decision, Delegate):
            outside = sorted({t.agent for t in decision.tasks} - set(self._workflow.agents))
            if outside:
                return self._deny(meta, chain, f"planner chose agents outside workflow {meta.workflow!r}: {outside}")
            if len(decision.tasks) > budgets.max_tasks_per_stage:
                return self._deny(
                    meta, chain, f"stage of {len(decision.tasks)} tasks exceeds {budgets.max_tasks_per_stage}"
                )
            if meta.stage + 1 > budgets.max_stages:
                return self._deny(meta, chain, f"run exceeded its budget of {budgets.max_stages} stages")
            keys = [t.output_key for t in decision.tasks]
            reserved = set(self._workflow.input_model.model_fields)
            if len(set(keys)) != len(keys) or reserved & set(keys):
                return self._deny(meta, chain, f"output keys {keys} repeat or overwrite the run's input")
        if isinstance(decision, Finish) and len(json.dumps(decision.result)) > MAX_VALUE_BYTES:
            return Fail(reason=f"result is larger than {MAX_VALUE_BYTES} bytes")
        return decision

    def _deny(self, meta: RunMeta, chain: AuditChain, reason: str) -> Fail:
        chain.append(AuditKind.DENIAL, ORCHESTRATOR, self._clock(), stage=meta.stage, reason=reason)
        count("Denials", meta.workflow)
        return Fail(reason=f"denied: {reason}")

    # ------------------------------------------------------------ decision -> state + answer

    def _apply(
        self,
        decision: Decision,
        meta: RunMeta,
        context: dict[str, ContextEntry],
        chain: AuditChain,
        items: list[Item],
    ) -> tuple[PlanResponse, RunMeta]:
        now = self._clock()
        chain.append(AuditKind.DECISION, ORCHESTRATOR, now, stage=meta.stage, decision=decision.model_dump(mode="json"))
        update: dict[str, Any] = {"version": meta.version + 1, "updated_at": now}
        if isinstance(decision, Delegate):
            stage = meta.stage + 1
            functions: list[str] = []
            task_functions: list[int] = []
            for index, task in enumerate(decision.tasks):
                agent = self._catalog.agents[task.agent]
                given = [k for k in agent.context_keys if k in context]
                untrusted = [k for k in given if not context[k].trusted]
                payload = {k: context[k].value for k in given} | dict(task.params)
                task_input = TaskInput(
                    agent=agent.name,
                    key=task.output_key,
                    payload=payload,
                    untrusted_keys=untrusted,
                    expires_at=meta.expires_at,
                )
                items.append(task_item(meta.run_id, stage, index, task_input, meta.expires_at))
                chain.append(
                    AuditKind.DELEGATION,
                    ORCHESTRATOR,
                    now,
                    stage=stage,
                    index=index,
                    agent=agent.name,
                    key=task.output_key,
                    context_keys=given,
                    untrusted_keys=untrusted,
                )
                function = self._functions[agent.name]
                if function not in functions:
                    functions.append(function)
                task_functions.append(functions.index(function))
            response = PlanResponse(
                run_id=meta.run_id,
                stage=stage,
                kind="delegate",
                functions=functions,
                tasks=task_functions,
                max_concurrency=min(self._workflow.budgets.max_concurrency, len(decision.tasks)),
                expires_at=meta.expires_at,
            )
            update |= {"stage": stage, "stage_agents": sorted({t.agent for t in decision.tasks})}
            count("StagesDelegated", meta.workflow)
            count("TasksDelegated", meta.workflow, len(decision.tasks))
        elif isinstance(decision, Finish):
            chain.append(AuditKind.RUN_SUCCEEDED, ORCHESTRATOR, now, stage=meta.stage)
            response = PlanResponse(run_id=meta.run_id, stage=meta.stage, kind="finish")
            update |= {"status": RunStatus.SUCCEEDED, "result": decision.result}
            count("RunsSucceeded", meta.workflow)
        else:
            chain.append(AuditKind.RUN_FAILED, ORCHESTRATOR, now, stage=meta.stage, reason=decision.reason)
            response = PlanResponse(run_id=meta.run_id, stage=meta.stage, kind="fail", reason=decision.reason)
            update |= {"status": RunStatus.FAILED, "reason": decision.reason}
            count("RunsFailed", meta.workflow)
        update |= {"last_plan": response, "audit_seq": chain.last_seq, "audit_head": chain.head}
        return response, meta.model_copy(update=update)


def _cause_message(cause: str) -> str:
    """Step Functions wraps a Lambda error as JSON {errorType, errorMessage}; keep only the message."""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return REDACTOR.redact(cause)[:500]
    if isinstance(parsed, dict):
        return REDACTOR.redact(str(parsed.get("errorMessage", "")))[:500]
    return REDACTOR.redact(cause)[:500]


def expires_at_for(workflow: WorkflowSpec, now: float | None = None) -> int:
    return int((now or time.time()) + workflow.run_retention_days * 86400)
