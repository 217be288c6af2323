"""Finding personal data in text and redacting it: pure functions, no AWS, no model.

Shared by three agents, each in its own Lambda function: extraction finds the spans, reporting replaces them
(and sweeps what it emits once more), publishing refuses a report in which any pattern still matches.

What counts as personal data here: email addresses, phone numbers in international form, bank accounts (an IBAN
whose check digits hold, or digits after "account number"), card numbers (13 to 19 digits passing the Luhn
check), and people's names introduced by a cue ("Name:", "Reported by", "held by", ...), then every other
occurrence of that name or of each of its parts anywhere in the document. Redaction errs on the side of hiding:
a word that is also part of a name is hidden everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from compliance_review_app.models import Confidentiality, PersonalDataKind, Regulation

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,4})){2,5}(?!\w)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
ACCOUNT = re.compile(r"(?i:\b(?:account|acct)\.?(?:\s+(?:no\.?|number|#))?\s*:?\s*)(\d(?:[ -]?\d){5,20})(?!\d)")
# a cue (any case), an optional title, then two or three capitalised words: "Reported by: Priya Natarajan"
NAME_CUE = re.compile(
    r"(?i:\b(?:name|reported by|contact|attn|signed|prepared by|held by|account holder|employee)\b)\s*[:,-]?\s*"
    r"(?:(?:Dr|Mr|Mrs|Ms|Mx)\.?\s+)?([A-Z][^\W\d_]+(?:[ -][A-Z][^\W\d_]+){1,2})"
)
INSTRUCTIONS = re.compile(
    r"(?i)\b(?:ignore|disregard|override)\b[^.\n]{0,60}\b(?:policy|policies|instructions?|rules?|guidelines?)\b"
    r"|\bpublish\b[^.\n]{0,40}\braw\b"
    r"|\bwithout (?:any )?redact"
    r"|\b(?:system|developer) (?:prompt|notice|message|instruction)"
    r"|\bAI (?:reviewer|assistant|model|agent)\b"
)
# "Classification: internal" on a line of its own (any case), or CONFIDENTIAL in capitals anywhere
MARKING = re.compile(
    r"(?m)^\s*(?i:classification|marking)\s*:\s*(?i:(public|internal|confidential))\b|\bCONFIDENTIAL\b"
)
REGULATORY_CUES: dict[Regulation, re.Pattern[str]] = {
    "gdpr": re.compile(r"(?i)\bGDPR\b|\bdata\s+protection\s+(?:officer|authority)\b"),
    "pci_dss": re.compile(r"(?i)\bPCI\b|\bcardholder\b"),
    "sox": re.compile(r"(?i)\bSOX\b|\bSarbanes|\bfinancial statements?\b|\binternal control over financial"),
    "hipaa": re.compile(r"(?i)\bHIPAA\b|\bpatient\b|\bmedical records?\b|\bdiagnosis\b"),
}
LEVELS: tuple[Confidentiality, ...] = ("public", "internal", "confidential")
REGULATIONS: tuple[Regulation, ...] = ("gdpr", "pci_dss", "sox", "hipaa")
MARKERS: dict[PersonalDataKind, str] = {
    "person_name": "[name redacted]",
    "email": "[email redacted]",
    "phone": "[phone redacted]",
    "bank_account": "[bank account redacted]",
    "card_number": "[card number redacted]",
}
MIN_NAME_PART = 3


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    kind: PersonalDataKind


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return len(digits) >= 13 and total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def names(texts: Iterable[str]) -> list[str]:
    """Every name a cue introduces, in any of the texts (longest first)."""
    found = {match.group(1) for text in texts for match in NAME_CUE.finditer(text)}
    return sorted(found, key=lambda name: (-len(name), name))


def _pattern_spans(text: str) -> list[Span]:
    spans = [Span(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]
    spans += [Span(m.start(), m.end(), "bank_account") for m in IBAN.finditer(text) if iban_valid(m.group())]
    spans += [Span(m.start(), m.end(), "card_number") for m in CARD.finditer(text) if luhn(_digits(m.group()))]
    spans += [Span(m.start(1), m.end(1), "bank_account") for m in ACCOUNT.finditer(text)]
    spans += [Span(m.start(), m.end(), "phone") for m in PHONE.finditer(text)]
    spans += [Span(m.start(1), m.end(1), "person_name") for m in NAME_CUE.finditer(text)]
    return spans


def _name_spans(text: str, known: Sequence[str]) -> list[Span]:
    parts = {part for name in known for part in re.split(r"[ -]", name) if len(part) >= MIN_NAME_PART}
    spans = []
    for value in [*known, *sorted(parts)]:
        spans += [Span(m.start(), m.end(), "person_name") for m in re.finditer(rf"\b{re.escape(value)}\b", text)]
    return spans


def find(text: str, known_names: Sequence[str] = ()) -> list[Span]:
    """The personal data in `text`, as non-overlapping spans in order. Where two overlap, the one starting first
    wins, then the longer, then the pattern listed first (a card number over digits after "account"); a name's
    other occurrences come last (an email holding a surname stays one email)."""
    accepted: list[Span] = []
    for span in sorted(_pattern_spans(text), key=lambda s: (s.start, -(s.end - s.start))) + _name_spans(
        text, known_names
    ):
        if not any(span.start < other.end and other.start < span.end for other in accepted):
            accepted.append(span)
    return sorted(accepted)


def redact(text: str, spans: Iterable[Span]) -> str:
    """`text` with each span replaced by the marker of its kind (spans must not overlap)."""
    out, position = [], 0
    for span in sorted(spans):
        if span.start < position or span.end > len(text):
            raise ValueError("spans overlap or run past the text")
        out += [text[position : span.start], MARKERS[span.kind]]
        position = span.end
    out.append(text[position:])
    return "".join(out)


def sweep(text: str, known_names: Sequence[str] = ()) -> str:
    """`text` with whatever personal data the patterns still see in it redacted (a second pass, after offsets)."""
    return redact(text, find(text, known_names))


def kinds_in(text: str) -> list[PersonalDataKind]:
    """The kinds of personal data any pattern finds in `text` (empty: none)."""
    return sorted({span.kind for span in find(text)})


def instructions_in(texts: Iterable[str]) -> bool:
    """Whether any text addresses an automated reviewer (a signal for people; it decides nothing)."""
    return any(INSTRUCTIONS.search(text) for text in texts)


def marking(texts: Iterable[str]) -> Confidentiality | None:
    """The highest confidentiality marking the texts carry, if any."""
    found: list[Confidentiality] = []
    for text in texts:
        for match in MARKING.finditer(text):
            level = (match.group(1) or "confidential").lower()
            found.append("public" if level == "public" else "internal" if level == "internal" else "confidential")
    return max(found, key=LEVELS.index) if found else None


def regulations(texts: Sequence[str], kinds: Iterable[PersonalDataKind]) -> list[Regulation]:
    """The regulatory categories: from the personal data found, and from cues in the text."""
    found: set[Regulation] = {name for name, cue in REGULATORY_CUES.items() if any(cue.search(t) for t in texts)}
    kinds = set(kinds)
    if kinds:
        found.add("gdpr")  # the example's jurisdiction: any personal data of a person is under the GDPR
    if "card_number" in kinds:
        found.add("pci_dss")
    return [name for name in REGULATIONS if name in found]
