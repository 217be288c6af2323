"""The compliance-review workflow's agents: coded, each a narrow specialist with only its own tools.

extraction      reads the document from the document store and finds where its personal data sits
classification  labels it (pure logic: the labels are constrained values, decided from the findings and cues)
reporting       builds the report; with a redacted section when the planner asks for one (pure logic)
publishing      checks the report once more and writes it to the reports table (the one write of the workflow)

No agent follows the document's words: they are data to parse, count and redact, never instructions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable

from baton.tools import AgentTaskFailed, ToolBox
from compliance_review_app import detectors
from compliance_review_app.detectors import Span
from compliance_review_app.models import (
    ClassificationInput,
    ComplianceReport,
    Document,
    Extraction,
    ExtractionInput,
    Finding,
    Labels,
    PersonalDataCount,
    PersonalDataKind,
    Publication,
    PublishingInput,
    RedactedSection,
    ReportingInput,
    ReportSection,
    Section,
    SectionReviewed,
    Where,
)

HEADING = re.compile(r"^## +(.+?)\s*$")
NOUNS: dict[PersonalDataKind, tuple[str, str]] = {
    "person_name": ("name", "names"),
    "email": ("email address", "email addresses"),
    "phone": ("phone number", "phone numbers"),
    "bank_account": ("bank account", "bank accounts"),
    "card_number": ("card number", "card numbers"),
}
INSTRUCTIONS_NOTE = (
    "The document holds text addressed to automated reviewers (for example, asking to ignore the policy): "
    "it was treated as data and changed nothing in this review."
)


# ---------------------------------------------------------------- extraction


def extraction(task: ExtractionInput, tools: ToolBox) -> Extraction:
    item = tools.call("get_document", document_id=task.document_id)
    if item is None:
        return Extraction(found=False)
    document = Document(
        document_id=item["document_id"],
        title=item["title"],
        source=item["source"],
        received_on=item["received_on"],
        sections=split_sections(item["body"]),
    )
    return Extraction(found=True, document=document, findings=find_personal_data(document))


def split_sections(body: str) -> list[Section]:
    """The body's sections: a line "## Heading" starts one; text before the first heading is the preamble."""
    sections: list[tuple[str, list[str]]] = [("Preamble", [])]
    for line in body.splitlines():
        heading = HEADING.match(line)
        if heading:
            sections.append((heading.group(1), []))
        else:
            sections[-1][1].append(line)
    found = [Section(heading=h, text="\n".join(lines).strip()) for h, lines in sections]
    return [s for s in found if s.text or s.heading != "Preamble"]


def _fields(document: Document) -> list[tuple[Where, int, str]]:
    """(where, section index, text) of every piece of the document's text."""
    fields: list[tuple[Where, int, str]] = [("title", 0, document.title)]
    for index, section in enumerate(document.sections):
        fields += [("heading", index, section.heading), ("text", index, section.text)]
    return fields


def find_personal_data(document: Document) -> list[Finding]:
    """Every piece of personal data in the document, by kind and offsets; a name a cue introduces anywhere is
    found everywhere it occurs."""
    fields = _fields(document)
    known = detectors.names(text for _, _, text in fields)
    return [
        Finding(kind=span.kind, where=where, section=index, start=span.start, end=span.end)
        for where, index, text in fields
        for span in detectors.find(text, known)
    ]


# ---------------------------------------------------------------- classification


def classification(task: ClassificationInput, tools: ToolBox) -> Labels:
    """Labels from the findings and from cues in the text. The text can raise a label (a CONFIDENTIAL marking, a
    regulation it names), never lower one: personal data makes the document confidential whatever it claims."""
    document = _document(task.extraction)
    texts = [text for _, _, text in _fields(document)]
    counts = Counter(finding.kind for finding in task.extraction.findings)
    level = detectors.marking(texts) or "internal"
    if counts and detectors.LEVELS.index(level) < detectors.LEVELS.index("confidential"):
        level = "confidential"
    return Labels(
        contains_personal_data=bool(counts),
        personal_data=_counts(counts),
        confidentiality=level,
        regulatory=detectors.regulations(texts, counts),
        instructions_in_text=detectors.instructions_in(texts),
    )


def _counts(counts: Counter[PersonalDataKind]) -> list[PersonalDataCount]:
    return [PersonalDataCount(kind=kind, count=n) for kind, n in sorted(counts.items())]


# ---------------------------------------------------------------- reporting


def reporting(task: ReportingInput, tools: ToolBox) -> ComplianceReport:
    """The report. Everything of the document it shows (title, headings, passages) is redacted at the findings'
    offsets, then swept by the patterns once more; the redacted section holds the passages with personal data."""
    document = _document(task.extraction)
    labels = task.classification
    known = detectors.names(text for _, _, text in _fields(document))
    spans: dict[tuple[Where, int], list[Span]] = {}
    for finding in task.extraction.findings:
        spans.setdefault((finding.where, finding.section), []).append(Span(finding.start, finding.end, finding.kind))

    def shown(where: Where, index: int, text: str) -> str:
        return detectors.sweep(detectors.redact(text, spans.get((where, index), ())), known)

    per_section = Counter(f.section for f in task.extraction.findings if f.where != "title")
    reviewed = [
        SectionReviewed(heading=shown("heading", i, s.heading), words=len(s.text.split()), personal_data=per_section[i])
        for i, s in enumerate(document.sections)
    ]
    redacted = None
    if task.include_redacted_section:
        passages = [
            ReportSection(heading=shown("heading", i, s.heading), text=shown("text", i, s.text))
            for i, s in enumerate(document.sections)
            if per_section[i]
        ]
        redacted = RedactedSection(passages=passages, redacted=labels.personal_data)
    return ComplianceReport(
        document_id=document.document_id,
        title=shown("title", 0, document.title),
        received_on=document.received_on,
        labels=labels,
        summary=_summary(len(document.sections), labels),
        sections_reviewed=reviewed,
        redacted_section=redacted,
        notes=[INSTRUCTIONS_NOTE] if labels.instructions_in_text else [],
    )


def _summary(sections: int, labels: Labels) -> str:
    found = ", ".join(f"{c.count} {NOUNS[c.kind][c.count > 1]}" for c in labels.personal_data) or "none"
    regulatory = ", ".join(labels.regulatory) or "none"
    return (
        f"Reviewed {sections} sections. Personal data found: {found}. "
        f"Confidentiality: {labels.confidentiality}. Regulatory categories: {regulatory}."
    )


# ---------------------------------------------------------------- publishing


def publishing(task: PublishingInput, tools: ToolBox) -> Publication:
    """Publish the report, after checking it once more: personal data means a redacted section, and no pattern may
    still find personal data anywhere in it (defence in depth: the planner and the reporting agent already see to
    both, and a report failing either is never written)."""
    report = task.reporting
    if report.labels.contains_personal_data and report.redacted_section is None:
        raise AgentTaskFailed("refusing to publish: the labels say personal data, the report has no redacted section")
    report_json = json.dumps(report.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    leaked = _still_personal(report_json, report.model_dump(mode="json"))
    if leaked:
        raise AgentTaskFailed(f"refusing to publish: the report still holds personal data ({', '.join(leaked)})")
    published = tools.call(
        "publish_report",
        document_id=report.document_id,
        report_json=report_json,
        personal_data=report.redacted_section is not None,
    )
    if published["report_sha256"] != hashlib.sha256(report_json.encode()).hexdigest():
        raise AgentTaskFailed("the reports table stored another report than the one checked")
    return Publication.model_validate(published)


def _still_personal(report_json: str, report: object) -> list[str]:
    """The kinds of personal data the patterns find in the report: in its JSON and in each of its strings."""
    return sorted({*detectors.kinds_in(report_json), *(k for s in _strings(report) for k in detectors.kinds_in(s))})


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _document(extracted: Extraction) -> Document:
    if not extracted.found or extracted.document is None:
        raise AgentTaskFailed("no document to work on")
    return extracted.document
