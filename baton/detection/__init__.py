"""Injection detection: a signal on untrusted text entering a run, never the boundary.

A workflow declares its detector once (`WorkflowSpec.injection_detector`): "builtin" (baton.detection.rules, pure
Python, shipped in the package, nothing downloaded), an `InjectionGuardrail` (Bedrock Guardrails' prompt-attack
filter through ApplyGuardrail, source INPUT; the orchestrator's role gets bedrock:ApplyGuardrail on that guardrail
only, derived in baton.model_iam), or None (no scanning). The orchestrator scans every untrusted value as it enters
the run's context (the workflow's untrusted input values, and untrusted agent outputs: an agent that read an
untrusted tool or value produces an untrusted output, so tool output and peer data are covered there), sets
`ContextEntry.flagged`, audits each verdict (detector, key, score, signal names: never the text), shows the flag to
planners (`ValueShape.flagged`, a model planner's data block) and lists flagged payload keys in
`TaskInput.flagged_keys`, which tool-call policies read ("a flagged value requires approval for any write").

Every protection Baton has holds whatever a detector says: taint, the irreversible-tool rule, approvals, policies.
A detector that cannot answer (Bedrock throttled, the guardrail missing) gives an "unavailable" verdict, which is
audited and treated as flagged: the value was not screened, so it is never passed as clean.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

BUILTIN = "builtin"
VerdictStatus = Literal["clean", "flagged", "unavailable"]
_SIGNAL = re.compile(r"[^A-Za-z0-9_.:-]")


def signal_name(text: str) -> str:
    """A signal as verdicts carry it: a short identifier (a name Baton or AWS chose, never text from the scan)."""
    return _SIGNAL.sub("_", text)[:64]


class InjectionVerdict(BaseModel):
    """What a detector says of one text: never the text, nor any part of it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at the first verdict

    detector: str
    flagged: bool
    # 0..1, the detector's own scale (the built-in's points over twice its threshold; a guardrail's confidence)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    # names of what matched (rule names, guardrail filter and confidence), sorted
    signals: tuple[str, ...] = ()
    # False: the detector could not answer; such a verdict is flagged (fail closed) and says why in `signals`
    available: bool = True

    @property
    def status(self) -> VerdictStatus:
        if not self.available:
            return "unavailable"
        return "flagged" if self.flagged else "clean"

    @classmethod
    def unavailable(cls, detector: str, reason: str) -> InjectionVerdict:
        return cls(detector=detector, flagged=True, signals=(f"unavailable:{signal_name(reason)}",), available=False)


class InjectionDetector(Protocol):
    """Scans one text. Must not raise: a detector that cannot answer returns `InjectionVerdict.unavailable`."""

    name: str

    def scan(self, text: str) -> InjectionVerdict: ...


def detector_for(declared: object, bedrock_runtime: Callable[[], Any] | None = None) -> InjectionDetector | None:
    """The detector a workflow declares (`WorkflowSpec.injection_detector`); `bedrock_runtime` makes the client a
    guardrail detector calls (made at its first scan; without it, every guardrail verdict is unavailable)."""
    if declared is None:
        return None
    if declared == BUILTIN:
        from baton.detection.rules import RuleDetector

        return RuleDetector()
    guardrail_id = getattr(declared, "guardrail_id", None)
    guardrail_version = getattr(declared, "guardrail_version", None)
    if isinstance(guardrail_id, str) and isinstance(guardrail_version, str):
        from baton.detection.guardrail import GuardrailDetector

        return GuardrailDetector(guardrail_id, guardrail_version, bedrock_runtime)
    raise ValueError(f"unknown injection detector declaration {declared!r}")


__all__ = ["BUILTIN", "InjectionDetector", "InjectionVerdict", "VerdictStatus", "detector_for", "signal_name"]
