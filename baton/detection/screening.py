"""Where the orchestrator runs a workflow's detector: on each untrusted value as it enters the run's context.

`screen` is called once per Plan on the values that Plan adds (the workflow's input at the first Plan; the outputs
the finished stage produced at the others): each untrusted one is scanned, flagged or not, and its verdict audited.
`flagged_payload_keys` is what a task's input then carries in `TaskInput.flagged_keys`. Both are pure but for the
detector's own call (Bedrock, for a guardrail detector).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pydantic import JsonValue

from baton.audit import AuditChain, AuditKind
from baton.detection import InjectionDetector, InjectionVerdict
from baton.models import ContextEntry
from baton.observability import count, logger

ORCHESTRATOR = "orchestrator"


def text_of(value: JsonValue) -> str:
    """The text a detector reads of a context value: a string as it is; otherwise every string in it (object keys
    included: a hostile payload chooses its keys too), one per line, and nothing else (numbers cannot instruct)."""
    if isinstance(value, str):
        return value
    return "\n".join(_strings(value))


def _strings(value: JsonValue) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def screen(
    detector: InjectionDetector | None,
    entries: dict[str, ContextEntry],
    chain: AuditChain,
    now: str,
    stage: int,
) -> None:
    """Scan each untrusted entry (in place: a flagged one gets `flagged=True`) and audit every verdict.

    A trusted value is never scanned (it is trusted because nothing an attacker wrote can be in it); a value without
    text (a number, a boolean) gets no verdict. A detector that raises despite its contract gives an unavailable
    verdict, which flags (fail closed).
    """
    if detector is None:
        return
    for key in sorted(entries):
        entry = entries[key]
        if entry.trusted:
            continue
        text = text_of(entry.value)
        if not text.strip():
            continue
        try:
            verdict = detector.scan(text)
        except Exception as error:  # a detector bug must not fail the run, nor pass it
            logger.warning("injection detector raised", extra={"detector": detector.name, "key": key})
            verdict = InjectionVerdict.unavailable(detector.name, type(error).__name__)
        if verdict.flagged:
            entries[key] = entry.model_copy(update={"flagged": True})
            count("InjectionFlags", chain.workflow)
        chain.append(AuditKind.INJECTION_VERDICT, ORCHESTRATOR, now, **audit_detail(key, entry, verdict, stage))


def audit_detail(key: str, entry: ContextEntry, verdict: InjectionVerdict, stage: int) -> dict[str, object]:
    """What the audit keeps of a verdict: where the value came from and what the detector said, never the text."""
    return {
        "stage": stage,
        "key": key,
        "source": entry.source,
        "detector": verdict.detector,
        "status": verdict.status,
        "flagged": verdict.flagged,
        "score": verdict.score,
        "signals": list(verdict.signals),
        "bytes": len(json.dumps(entry.value).encode()),
    }


def flagged_payload_keys(
    context: dict[str, ContextEntry], params: dict[str, JsonValue], params_flagged: bool
) -> list[str]:
    """The payload keys of a task whose value was flagged: its flagged context values, and the planner's params when
    the planner read a flagged value before deciding (its params may carry it, as they are untrusted then)."""
    flagged = {key for key, entry in context.items() if entry.flagged}
    if params_flagged:
        flagged |= set(params)
    return sorted(flagged)
