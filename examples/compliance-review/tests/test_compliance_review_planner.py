"""The compliance-review planner routes on intermediate results (pure: run state in, decision out)."""

from __future__ import annotations

from typing import Any

import pytest

from baton.models import ContextEntry, Delegate, Fail, Finish, RunView, TaskOutcome, TaskStatus
from compliance_review_app.planner import ComplianceReviewPlanner

T = "2026-11-24T00:00:00+00:00"
OK, FAILED = TaskStatus.SUCCEEDED, TaskStatus.FAILED
FOUND = {
    "found": True,
    "document": {
        "document_id": "DOC-1001",
        "title": "t",
        "source": "incident-intake",
        "received_on": "2026-11-04",
        "sections": [{"heading": "Summary", "text": "Name: Maria Keller"}],
    },
    "findings": [{"kind": "person_name", "where": "text", "section": 0, "start": 6, "end": 18}],
}
PERSONAL = {
    "contains_personal_data": True,
    "personal_data": [{"kind": "person_name", "count": 1}],
    "confidentiality": "confidential",
    "regulatory": ["gdpr"],
    "instructions_in_text": False,
}
CLEAN = {
    "contains_personal_data": False,
    "personal_data": [],
    "confidentiality": "internal",
    "regulatory": [],
    "instructions_in_text": False,
}


def view(**done: tuple[TaskStatus, Any]) -> RunView:
    context = {"document_id": ContextEntry(value="DOC-1001", source="input", trusted=True, stage=0, recorded_at=T)}
    history = []
    for stage, (agent, (status, value)) in enumerate(done.items(), start=1):
        history.append(
            TaskOutcome(
                stage=stage, index=0, agent=agent, key=agent, status=status, attempts=1, started_at=T, ended_at=T
            )
        )
        if value is not None:
            context[agent] = ContextEntry(value=value, source=agent, trusted=False, stage=stage, recorded_at=T)
    return RunView(run_id="r", workflow="compliance-review", stage=len(done), context=context, history=history)


def only_task(decision: Any) -> tuple[str, dict[str, Any]]:
    assert isinstance(decision, Delegate)
    (task,) = decision.tasks
    return task.agent, dict(task.params)


def test_the_sequence_is_extraction_classification_reporting_publishing() -> None:
    planner = ComplianceReviewPlanner()
    assert only_task(planner.decide(view())) == ("extraction", {})
    assert only_task(planner.decide(view(extraction=(OK, FOUND)))) == ("classification", {})
    assert only_task(planner.decide(view(extraction=(OK, FOUND), classification=(OK, PERSONAL))))[0] == "reporting"
    report_built = view(extraction=(OK, FOUND), classification=(OK, PERSONAL), reporting=(OK, {"any": "report"}))
    assert only_task(planner.decide(report_built)) == ("publishing", {})


@pytest.mark.parametrize(("labels", "redacted"), [(PERSONAL, True), (CLEAN, False)])
def test_the_labels_decide_whether_the_report_carries_a_redacted_section(
    labels: dict[str, Any], redacted: bool
) -> None:
    decision = ComplianceReviewPlanner().decide(view(extraction=(OK, FOUND), classification=(OK, labels)))
    assert only_task(decision) == ("reporting", {"include_redacted_section": redacted})


def test_a_document_not_in_the_store_fails_the_run_naming_it() -> None:
    decision = ComplianceReviewPlanner().decide(view(extraction=(OK, {"found": False, "findings": []})))
    assert decision == Fail(reason="document DOC-1001 is not in the document store: nothing to review")


@pytest.mark.parametrize("failing", ["extraction", "classification", "reporting", "publishing"])
def test_a_failed_step_fails_the_run_and_nothing_after_it_runs(failing: str) -> None:
    values = {"extraction": FOUND, "classification": PERSONAL, "reporting": {"any": "report"}}
    done: dict[str, tuple[TaskStatus, Any]] = {}
    for agent in ("extraction", "classification", "reporting", "publishing"):
        done[agent] = (FAILED, None) if agent == failing else (OK, values[agent])
        if agent == failing:
            break
    decision = ComplianceReviewPlanner().decide(view(**done))
    assert isinstance(decision, Fail)
    assert decision.reason.startswith(f"{failing} failed")


def test_once_published_the_run_finishes_with_the_report() -> None:
    report = {
        "document_id": "DOC-1001",
        "title": "t",
        "received_on": "2026-11-04",
        "labels": PERSONAL,
        "summary": "s",
        "sections_reviewed": [],
        "redacted_section": {"passages": [], "redacted": [{"kind": "person_name", "count": 1}]},
        "notes": [],
    }
    publication = {"report_id": "DOC-1001/r", "report_sha256": "0" * 64, "published_at": T}
    decision = ComplianceReviewPlanner().decide(
        view(
            extraction=(OK, FOUND),
            classification=(OK, PERSONAL),
            reporting=(OK, report),
            publishing=(OK, publication),
        )
    )
    assert isinstance(decision, Finish)
    assert decision.result["outcome"] == "published"
    assert decision.result["report_id"] == "DOC-1001/r"
    assert decision.result["redacted_section"] is True
