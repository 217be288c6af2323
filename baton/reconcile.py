"""Reconciling a concurrent stage: the outputs of its tasks merged into one value, by a declared strategy.

A planner declares it on the stage it delegates (`Delegate(tasks=[...], reconcile=Reconcile(...))`); the guard
checks the declaration against the workflow (`reconcile_problem`: every task's output model has the list field,
and its records the key and the judged field), so that no declaration can make a stage's fold fail; the fold
applies it (`merge`) once every task of the stage has an outcome. Pure: outputs in, a merged value out.

`merge` takes the records of each succeeded task's list field `items`, de-duplicates them by their field `key`
(a task reporting the same key twice counts once, its first record), and where the tasks disagree on the judged
field the declared rule decides: `highest` (the highest value in the declared order, lowest first; a value the
order does not rank is below every ranked one) or `majority` (the value most tasks report; a tie goes to the
highest in the order if one is declared, else to the value of the task listed first in the stage). Each merged
record is the first record (in stage order) that carries the chosen value, so its other fields come from one task.
What was chosen where tasks disagreed is listed in `conflicts`, and which tasks reported each key in `sources`.

The merged value is as trusted as the least trusted output it came from; a value that merged nothing (too few
tasks succeeded) holds only the orchestrator's own facts (which tasks failed), so it stays trusted and a planner
may read it to fail the run without reading anything a task produced.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, JsonValue

from baton.models import Highest, Majority, Reconcile, Strict, TaskStatus

if typing.TYPE_CHECKING:
    from baton.catalog import Catalog, WorkflowSpec
    from baton.models import Task

SOURCE = "reconcile"  # the `source` of a merged value in the run's context


class Conflict(Strict):
    """Where the tasks disagreed about one record: what each reported, and what the rule chose."""

    key: str
    field: str
    values: dict[str, JsonValue]  # by task output key
    chosen: JsonValue


class Reconciled(Strict):
    """The merged value a reconciled stage records in the run's context (under `Reconcile.into`)."""

    strategy: Literal["merge"] = "merge"
    rule: Literal["majority", "highest"]
    items: list[dict[str, JsonValue]]
    sources: dict[str, list[str]]  # by key value: the output keys of the tasks that reported it
    conflicts: list[Conflict]
    succeeded: list[str]  # output keys, in stage order
    failed: list[str]
    partial: bool  # some task of the stage failed
    enough: bool  # at least `min_succeeded` tasks succeeded
    reason: str = ""


@dataclass(frozen=True)
class StageResult:
    """One task of the stage as the fold determined it: its output key, status, checked output and trust."""

    key: str
    status: TaskStatus
    output: dict[str, JsonValue] | None = None
    trusted: bool = True


def merge(spec: Reconcile, results: list[StageResult]) -> tuple[Reconciled, bool]:
    """The stage's outputs merged as `spec` declares, and whether the merged value is trusted."""
    succeeded = [r for r in results if r.status is TaskStatus.SUCCEEDED and r.output is not None]
    failed = [r.key for r in results if r not in succeeded]
    rule = spec.on_conflict
    if len(succeeded) < spec.min_succeeded:
        reason = (
            f"{len(succeeded)} of {len(results)} tasks succeeded, fewer than the {spec.min_succeeded} the stage needs"
            f" (failed: {', '.join(failed) or 'none'})"
        )
        value = Reconciled(
            rule=rule.rule,
            items=[],
            sources={},
            conflicts=[],
            succeeded=[r.key for r in succeeded],
            failed=failed,
            partial=bool(failed),
            enough=False,
            reason=reason,
        )
        return value, True
    # key value -> [(task key, its first record for that key)], in stage order
    reports: dict[str, list[tuple[str, dict[str, JsonValue]]]] = {}
    for result in succeeded:
        seen: set[str] = set()
        for record in _records(result.output, spec.items):
            identity = _identity(record.get(spec.key))
            if identity is None or identity in seen:
                continue
            seen.add(identity)
            reports.setdefault(identity, []).append((result.key, record))
    items: list[dict[str, JsonValue]] = []
    sources: dict[str, list[str]] = {}
    conflicts: list[Conflict] = []
    for identity in sorted(reports):
        reported = reports[identity]
        sources[identity] = [key for key, _ in reported]
        values = [record.get(rule.field) for _, record in reported]
        chosen = _choose(rule, values)
        record = next(record for _, record in reported if record.get(rule.field) == chosen)
        items.append(dict(record))
        if len({_identity(v) or repr(v) for v in values}) > 1:
            conflicts.append(
                Conflict(
                    key=identity,
                    field=rule.field,
                    values={key: record.get(rule.field) for key, record in reported},
                    chosen=chosen,
                )
            )
    value = Reconciled(
        rule=rule.rule,
        items=items,
        sources=sources,
        conflicts=conflicts,
        succeeded=[r.key for r in succeeded],
        failed=failed,
        partial=bool(failed),
        enough=True,
    )
    return value, all(r.trusted for r in succeeded)


def _records(output: dict[str, JsonValue] | None, field: str) -> list[dict[str, JsonValue]]:
    found = (output or {}).get(field)
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _identity(value: JsonValue) -> str | None:
    """A record's key as text (a scalar only: a record without one is left out of the merge)."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    return str(value)


def _rank(order: list[str], value: JsonValue) -> int:
    """The value's place in the declared order (lowest first); -1 for one it does not rank."""
    return order.index(value) if isinstance(value, str) and value in order else -1


def _choose(rule: Majority | Highest, values: list[JsonValue]) -> JsonValue:
    """The value the rule picks among what the tasks reported (in stage order)."""
    if isinstance(rule, Highest):
        best = max(range(len(values)), key=lambda i: (_rank(rule.order, values[i]), -i))
        return values[best]
    counts: dict[str, int] = {}
    for value in values:
        counts[repr(value)] = counts.get(repr(value), 0) + 1
    top = max(counts.values())
    tied = [i for i, value in enumerate(values) if counts[repr(value)] == top]
    best = max(tied, key=lambda i: (_rank(rule.order, values[i]), -i)) if rule.order else tied[0]
    return values[best]


# ---------------------------------------------------------------- checking a declaration against the workflow


def reconcile_problem(
    spec: Reconcile, tasks: list[Task], workflow: WorkflowSpec, catalog: Catalog | None
) -> str | None:
    """Why a stage's reconcile declaration cannot be applied to its tasks (None: it can, whatever they output)."""
    if catalog is None:
        return "a reconciled stage needs the catalog to check its declaration"
    if spec.min_succeeded > len(tasks):
        return f"reconcile needs {spec.min_succeeded} tasks to succeed, but the stage has {len(tasks)}"
    if spec.into not in workflow.reconciled_keys:
        return f"reconcile records into {spec.into!r}, which workflow {workflow.name!r} does not declare reconciled"
    if spec.into in {t.output_key for t in tasks} or spec.into in workflow.input_model.model_fields:
        return f"reconcile records into {spec.into!r}, a key of the stage's outputs or of the run's input"
    rule = spec.on_conflict
    if len(set(rule.order)) != len(rule.order):
        return f"the order of {rule.rule!r} repeats a value"
    for agent in sorted({t.agent for t in tasks}):
        declared = catalog.agents.get(agent)
        if declared is None:  # a child workflow's task (hierarchical orchestration): no output model to merge
            return f"task {agent!r} is not an agent: it has no output model to merge"
        record = _record_model(declared.output_model, spec.items)
        if record is None:
            return f"agent {agent!r}'s output has no list of records {spec.items!r} to merge"
        missing = [f for f in (spec.key, rule.field) if f not in record.model_fields]
        if missing:
            return f"the records of agent {agent!r}'s {spec.items!r} have no field {missing[0]!r}"
        allowed = _choices(record.model_fields[rule.field].annotation)
        unranked = sorted(allowed - set(rule.order)) if allowed is not None and rule.order else []
        if unranked:
            return f"the order of {rule.rule!r} does not rank {rule.field!r} values {unranked} of agent {agent!r}"
    return None


def _record_model(output_model: type[BaseModel], field: str) -> type[BaseModel] | None:
    """The model of the records in the output's list field `field` (list[Model], possibly optional)."""
    info = output_model.model_fields.get(field)
    if info is None:
        return None
    annotation = _without_none(info.annotation)
    if typing.get_origin(annotation) is not list:
        return None
    (item,) = typing.get_args(annotation) or (None,)
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _choices(annotation: Any) -> set[str] | None:
    """The values a Literal or enum field admits (None: it is not constrained to a set of values)."""
    annotation = _without_none(annotation)
    if typing.get_origin(annotation) is Literal:
        return {str(v) for v in typing.get_args(annotation)}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return {str(m.value) for m in annotation}
    return None
