"""Bedrock Guardrails as an injection detector: ApplyGuardrail, source INPUT, a guardrail with the prompt-attack filter.

    WorkflowSpec(..., injection_detector=InjectionGuardrail(guardrail_id="abc123def456", guardrail_version="1"))

The guardrail is yours (create it with the prompt-attack filter on, strength HIGH for inputs); Baton only calls it,
and derives `bedrock:ApplyGuardrail` on exactly that guardrail's ARN for the orchestrator that calls it
(baton.model_iam). With source INPUT and no input tags, the whole text is evaluated as user input, which is what a
value entering a run is.

Mapping a response to a verdict (`verdict_of`): the PROMPT_ATTACK content filter detected (or its action BLOCKED)
flags the text, its confidence (LOW, MEDIUM, HIGH) giving the score; an intervention no assessment explains is
flagged too (fail closed); another policy's intervention (a denied topic, a word list) is listed in the signals and
does not flag, since it says nothing of injection. A guardrail that guarded fewer characters than it was sent
(`guardrailCoverage`) has not screened the rest: unless something flagged the text, that is an "unavailable"
verdict. Any error (throttling, access denied, an unknown guardrail, a network failure) is an "unavailable"
verdict naming the error code: never an exception, and never a clean verdict.

Offline, moto 5.2.5 implements no ApplyGuardrail (its bedrock-runtime answers InvokeModel only; its bedrock control
plane has no guardrails): a run offline with a guardrail detector gets "unavailable" verdicts, and the adapter is
tested with botocore's Stubber (tests/unit/test_detection.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from baton.detection import InjectionVerdict, signal_name

# characters sent per ApplyGuardrail call, and calls per text at most (an agent's output is at most 200 KB)
CHUNK_CHARS = 20_000
MAX_CHUNKS = 10
CONFIDENCE = {"NONE": 0.0, "LOW": 0.34, "MEDIUM": 0.67, "HIGH": 1.0}
PROMPT_ATTACK = "PROMPT_ATTACK"
INTERVENED = "GUARDRAIL_INTERVENED"


class GuardrailDetector:
    def __init__(
        self, guardrail_id: str, guardrail_version: str, bedrock_runtime: Callable[[], Any] | None = None
    ) -> None:
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version
        self.name = f"bedrock-guardrail:{guardrail_id}:{guardrail_version}"
        self._factory = bedrock_runtime
        self._client: Any = None
        self._lock = threading.Lock()

    def scan(self, text: str) -> InjectionVerdict:
        chunks = [text[start : start + CHUNK_CHARS] for start in range(0, max(len(text), 1), CHUNK_CHARS)]
        verdicts = [self._apply(chunk) for chunk in chunks[:MAX_CHUNKS]]
        if len(chunks) > MAX_CHUNKS:
            verdicts.append(InjectionVerdict.unavailable(self.name, "text_longer_than_scanned"))
        flagged = [v for v in verdicts if v.flagged and v.available]
        if flagged:
            return self._merged(flagged, flagged=True)
        missing = [v for v in verdicts if not v.available]
        if missing:
            return InjectionVerdict(
                detector=self.name,
                flagged=True,
                signals=tuple(sorted({s for v in missing for s in v.signals})),
                available=False,
            )
        return self._merged(verdicts, flagged=False)

    def _merged(self, verdicts: list[InjectionVerdict], flagged: bool) -> InjectionVerdict:
        scores = [v.score for v in verdicts if v.score is not None]
        return InjectionVerdict(
            detector=self.name,
            flagged=flagged,
            score=max(scores) if scores else None,
            signals=tuple(sorted({s for v in verdicts for s in v.signals})),
        )

    def _apply(self, chunk: str) -> InjectionVerdict:
        try:
            client = self._bedrock()
            response = client.apply_guardrail(
                guardrailIdentifier=self.guardrail_id,
                guardrailVersion=self.guardrail_version,
                source="INPUT",
                content=[{"text": {"text": chunk}}],
            )
        except Exception as error:  # any failure: an unavailable verdict, never a crash
            return InjectionVerdict.unavailable(self.name, _error_code(error))
        return verdict_of(self.name, response)

    def _bedrock(self) -> Any:
        with self._lock:
            if self._client is None:
                if self._factory is None:
                    raise _NoClient("no_bedrock_runtime_client")
                self._client = self._factory()
            return self._client


class _NoClient(Exception):
    """This detector was made without a way to make a bedrock-runtime client."""


def _error_code(error: Exception) -> str:
    """The error's code (botocore's `Error.Code`, or its type): never its message, which may echo the request."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    if isinstance(error, _NoClient):
        return str(error)
    return type(error).__name__


def verdict_of(detector: str, response: dict[str, Any]) -> InjectionVerdict:
    """An ApplyGuardrail response as a verdict (see the module's docstring)."""
    signals: set[str] = set()
    flagged = False
    scores: list[float] = []
    explained = False
    for assessment in response.get("assessments") or []:
        for policy, found in _detections(assessment):
            explained = explained or _acted(found)
            if policy == PROMPT_ATTACK:
                confidence = str(found.get("confidence", "NONE"))
                scores.append(CONFIDENCE.get(confidence, 1.0))
                if found.get("detected", found.get("action") == "BLOCKED"):
                    flagged = True
                    signals.add(f"{PROMPT_ATTACK}:{signal_name(confidence)}")
            else:
                signals.add(f"guardrail:{signal_name(policy)}")
    if response.get("action") == INTERVENED:
        signals.add("guardrail_intervened")
        if not explained:
            flagged = True
    covered = (response.get("guardrailCoverage") or {}).get("textCharacters") or {}
    guarded, total = covered.get("guarded"), covered.get("total")
    if not flagged and isinstance(guarded, int) and isinstance(total, int) and guarded < total:
        return InjectionVerdict.unavailable(detector, "partial_coverage")
    return InjectionVerdict(
        detector=detector,
        flagged=flagged,
        score=max(scores) if scores else (1.0 if flagged else 0.0),
        signals=tuple(sorted(signals)),
    )


def _detections(assessment: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(policy or filter name, finding) of each finding in one assessment that the guardrail acted on or detected;
    every content filter of type PROMPT_ATTACK is kept (its confidence is the score)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for item in (assessment.get("contentPolicy") or {}).get("filters") or []:
        kind = str(item.get("type", ""))
        if kind == PROMPT_ATTACK or _acted(item):
            found.append((kind, item))
    for policy, key, field in (
        ("topicPolicy", "topics", "TOPIC"),
        ("wordPolicy", "customWords", "WORDS"),
        ("wordPolicy", "managedWordLists", "MANAGED_WORDS"),
        ("sensitiveInformationPolicy", "piiEntities", "PII"),
        ("sensitiveInformationPolicy", "regexes", "REGEX"),
    ):
        for item in (assessment.get(policy) or {}).get(key) or []:
            if _acted(item):
                found.append((field, item))
    return found


def _acted(item: dict[str, Any]) -> bool:
    return bool(item.get("detected")) or item.get("action") not in (None, "NONE")
