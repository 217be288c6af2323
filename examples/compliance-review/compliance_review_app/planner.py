"""The compliance-review planner: a sequence whose shape depends on an intermediate result.

extraction -> classification -> reporting -> publishing, one agent per stage. The classification's labels decide
the reporting step: personal data found, the report carries a redacted section; none, it carries none. The
planner decides on the labels (constrained values) and on whether the document was found, never on the
document's words. A document the store does not hold fails the run, saying so.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue

from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskOutcome, TaskStatus
from compliance_review_app.models import ComplianceReport, Labels, Publication


def _ok(outcome: TaskOutcome | None) -> bool:
    return outcome is not None and outcome.status is TaskStatus.SUCCEEDED


class ComplianceReviewPlanner:
    # Where decide() can go from each step, for `baton graph compliance-review` (from, to, label): "input" is the
    # run's start, "finish" and "fail" its ends.
    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("input", "extraction", "read the document"),
        ("extraction", "fail", "not in the document store, or extraction failed"),
        ("extraction", "classification", "document extracted"),
        ("classification", "fail", "classification failed"),
        ("classification", "reporting", "personal data: report with a redacted section"),
        ("classification", "reporting", "no personal data: report without one"),
        ("reporting", "fail", "reporting failed"),
        ("reporting", "publishing", "report built"),
        ("publishing", "fail", "publishing refused or failed"),
        ("publishing", "finish", "published"),
    )

    def decide(self, run: RunView) -> Decision:
        extraction = run.latest("extraction")
        if extraction is None:
            return Delegate(tasks=[Task(agent="extraction")], reason="read the document")
        if not _ok(extraction):
            return Fail(reason=f"extraction failed: {extraction.error}")
        if not _found(run.value("extraction")):
            return Fail(reason=f"document {run.value('document_id')} is not in the document store: nothing to review")

        classification = run.latest("classification")
        if classification is None:
            return Delegate(tasks=[Task(agent="classification")], reason="label the document")
        if not _ok(classification):
            return Fail(reason=f"classification failed: {classification.error}")
        labels = Labels.model_validate(run.value("classification"))

        reporting = run.latest("reporting")
        if reporting is None:
            redacted = labels.contains_personal_data
            reason = "personal data: report with a redacted section" if redacted else "no personal data: no redaction"
            return Delegate(
                tasks=[Task(agent="reporting", params={"include_redacted_section": redacted})], reason=reason
            )
        if not _ok(reporting):
            return Fail(reason=f"reporting failed: {reporting.error}")

        publishing = run.latest("publishing")
        if publishing is None:
            return Delegate(tasks=[Task(agent="publishing")], reason="publish the report")
        if not _ok(publishing):
            return Fail(reason=f"publishing failed: {publishing.error}")
        return Finish(result=self._result(run, labels))

    @staticmethod
    def _result(run: RunView, labels: Labels) -> dict[str, JsonValue]:
        report = ComplianceReport.model_validate(run.value("reporting"))
        publication = Publication.model_validate(run.value("publishing"))
        return {
            "outcome": "published",
            "document_id": report.document_id,
            "report_id": publication.report_id,
            "report_sha256": publication.report_sha256,
            "contains_personal_data": labels.contains_personal_data,
            "redacted_section": report.redacted_section is not None,
            "report": report.model_dump(mode="json"),
        }


def _found(value: JsonValue) -> bool:
    return isinstance(value, dict) and value.get("found") is True
