"""Every boundary of the compliance-review workflow: its input, each agent's input and output, each tool's arguments.

Trust, as the models encode it: the document's words (title, headings, text) are untrusted free text, they came
from outside (a vendor, a reporter); a finding is a kind and character offsets, never the text it points at; the
classification's labels admit only constrained values (booleans, literals, counts), so no instruction can ride on
them, and the planner routes on them alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DOCUMENT_ID = r"^DOC-\d{4,10}$"

PersonalDataKind = Literal["person_name", "email", "phone", "bank_account", "card_number"]
Confidentiality = Literal["public", "internal", "confidential"]
Regulation = Literal["gdpr", "pci_dss", "sox", "hipaa"]
Where = Literal["title", "heading", "text"]


class Boundary(BaseModel):
    # built at first use: a Lambda function builds only the models on its own path
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ReviewRequest(Boundary):
    """What a compliance officer (or an intake system on their behalf) submits: which stored document to review."""

    document_id: str = Field(pattern=DOCUMENT_ID, description="the document to review, as the document store keys it")


# ---------------------------------------------------------------- extraction


class Section(Boundary):
    heading: str = Field(max_length=200)
    text: str = Field(max_length=20_000)


class Document(Boundary):
    """A stored document, split into its sections: every word of it untrusted."""

    document_id: str = Field(pattern=DOCUMENT_ID)
    title: str = Field(max_length=300)
    source: str = Field(pattern=r"^[a-z][a-z0-9-]{0,40}$", description="the channel it came in through")
    received_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    sections: list[Section] = Field(max_length=50)


class Finding(Boundary):
    """Where one piece of personal data sits: its kind and offsets, never its text."""

    kind: PersonalDataKind
    where: Where
    section: int = Field(ge=0, description="the section's index (0 for the title)")
    start: int = Field(ge=0)
    end: int = Field(gt=0)

    @model_validator(mode="after")
    def _not_empty(self) -> Finding:
        if self.end <= self.start:
            raise ValueError("a finding ends after it starts")
        return self


class ExtractionInput(Boundary):
    document_id: str = Field(pattern=DOCUMENT_ID)


class Extraction(Boundary):
    found: bool
    document: Document | None = None
    findings: list[Finding] = Field(default_factory=list, max_length=2000)


# ---------------------------------------------------------------- classification


class PersonalDataCount(Boundary):
    kind: PersonalDataKind
    count: int = Field(ge=1)


class Labels(Boundary):
    """The classification: constrained values only (the Rule of Two counts this output as carrying no text)."""

    contains_personal_data: bool
    personal_data: list[PersonalDataCount] = Field(max_length=5)
    confidentiality: Confidentiality
    regulatory: list[Regulation] = Field(max_length=4)
    # the document holds text addressed to automated reviewers: a signal for the reader, never a decision
    instructions_in_text: bool


class ClassificationInput(Boundary):
    extraction: Extraction


# ---------------------------------------------------------------- reporting


class ReportSection(Boundary):
    heading: str = Field(max_length=200)
    text: str = Field(max_length=20_000)


class SectionReviewed(Boundary):
    heading: str = Field(max_length=200)
    words: int = Field(ge=0)
    personal_data: int = Field(ge=0, description="pieces of personal data found in the section")


class RedactedSection(Boundary):
    """The passages holding personal data, each piece replaced by a marker naming its kind."""

    heading: Literal["Personal data (redacted)"] = "Personal data (redacted)"
    passages: list[ReportSection] = Field(max_length=50)
    redacted: list[PersonalDataCount] = Field(max_length=5)


class ReportingInput(Boundary):
    extraction: Extraction
    classification: Labels
    # the planner's choice, from the labels: whether the report carries the redacted passages
    include_redacted_section: bool


class ComplianceReport(Boundary):
    document_id: str = Field(pattern=DOCUMENT_ID)
    title: str = Field(max_length=300)
    received_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    labels: Labels
    summary: str = Field(max_length=1000)
    sections_reviewed: list[SectionReviewed] = Field(max_length=50)
    redacted_section: RedactedSection | None = None
    notes: list[str] = Field(default_factory=list, max_length=10)


# ---------------------------------------------------------------- publishing


class PublishingInput(Boundary):
    reporting: ComplianceReport


class Publication(Boundary):
    report_id: str = Field(pattern=r"^DOC-\d{4,10}/[\w.-]{1,120}$")
    report_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    published_at: str


# ---------------------------------------------------------------- tool arguments


class GetDocumentArgs(Boundary):
    document_id: str = Field(pattern=DOCUMENT_ID)


class PublishReportArgs(Boundary):
    document_id: str = Field(pattern=DOCUMENT_ID)
    report_json: str = Field(min_length=2, max_length=100_000)
    # what the sign-off policy reads (policies.cedar): a report with a redacted section waits for a person
    personal_data: bool = False
