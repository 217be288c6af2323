"""The compliance-review workflow, declared once: infra derives IAM from this, the runtime enforces it.

The seed's sequential pattern: "a compliance review pipeline where an extraction agent pulls data, a
classification agent labels it, and a reporting agent generates the output", plus the step that makes the output
public, kept as its own agent and tool so that a person's sign-off can hold it.

Trust. The document's words are untrusted: they came from outside (a vendor, a reporter), so `get_document`
declares untrusted output although it reads the app's own table, and every value derived from them is recorded
untrusted. The run's input (a document id) is constrained by its pattern and trusted. The classification's
labels admit only constrained values (booleans, literals, counts): no instruction can ride on them, the planner
routes on them alone, and the Rule of Two counts its output as carrying none (baton.rule_of_two). Rule of Two:
extraction reads untrusted, sensitive data and changes nothing; classification and reporting have no tools;
publishing may write, and reads nothing. A report about a document with personal data is signed off by a person
before it is published (policies.cedar holds publish_report; `baton run ... --approve auto` or `baton approve`).
"""

from __future__ import annotations

from baton.catalog import (
    AgentSpec,
    ApprovalSettings,
    Budgets,
    Catalog,
    Grant,
    PolicyFile,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from compliance_review_app import models
from compliance_review_app.names import DOCUMENTS, REPORTS

RESOURCES = [
    ResourceSpec(
        kind=ResourceKind.TABLE,
        name=DOCUMENTS,
        description="documents received for compliance review, by document id (their text is the senders')",
        partition_key="document_id",
    ),
    ResourceSpec(
        kind=ResourceKind.TABLE,
        name=REPORTS,
        description="published compliance reports, by report id (document id / run id)",
        partition_key="report_id",
    ),
    ResourceSpec(kind=ResourceKind.QUEUE, name="report_signoffs", description="reports waiting for a sign-off"),
]

TOOLS = [
    ToolSpec(
        name="get_document",
        description="read one stored document by id",
        implementation="compliance_review_app.tools:get_document",
        arguments=models.GetDocumentArgs,
        side_effect=SideEffect.READ,
        # the app's own table, but the document's words are whoever sent it: untrusted
        output_trusted=False,
        grants=(Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=DOCUMENTS)),),
    ),
    ToolSpec(
        name="publish_report",
        description="publish a compliance report to the reports table (once per document and run; never overwrites)",
        implementation="compliance_review_app.tools:publish_report",
        arguments=models.PublishReportArgs,
        # what readers of the reports table see: the step a person's sign-off will hold (issue 11, part 2)
        side_effect=SideEffect.WRITE,
        output_trusted=True,  # its own report id, digest and time
        grants=(Grant(actions=("dynamodb:PutItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name=REPORTS)),),
    ),
]

AGENTS = [
    AgentSpec(
        name="extraction",
        description="reads the document and finds where its personal data sits",
        implementation="compliance_review_app.agents:extraction",
        input_model=models.ExtractionInput,
        output_model=models.Extraction,
        tools=("get_document",),
        context_keys=("document_id",),
    ),
    AgentSpec(
        name="classification",
        description="labels the document: personal data, confidentiality, regulatory categories",
        implementation="compliance_review_app.agents:classification",
        input_model=models.ClassificationInput,
        output_model=models.Labels,
        context_keys=("extraction",),
    ),
    AgentSpec(
        name="reporting",
        description="builds the compliance report, redacting every piece of personal data it shows",
        implementation="compliance_review_app.agents:reporting",
        input_model=models.ReportingInput,
        output_model=models.ComplianceReport,
        context_keys=("extraction", "classification"),
    ),
    AgentSpec(
        name="publishing",
        description="checks the report once more and publishes it",
        implementation="compliance_review_app.agents:publishing",
        input_model=models.PublishingInput,
        output_model=models.Publication,
        tools=("publish_report",),
        context_keys=("reporting",),
        # a report with personal data waits for a person's sign-off (policies.cedar)
        policies=PolicyFile(package="compliance_review_app", name="policies.cedar"),
    ),
]

WORKFLOW = WorkflowSpec(
    name="compliance-review",
    description="a stored document reviewed for compliance: extraction, classification, reporting, publishing",
    input_model=models.ReviewRequest,
    planner="compliance_review_app.planner:ComplianceReviewPlanner",
    agents=("extraction", "classification", "reporting", "publishing"),
    trusted_input_keys=("document_id",),
    budgets=Budgets(max_stages=6, max_tasks_per_stage=1, max_concurrency=1),
    # a person's sign-off before publishing waits on a task token: only a Standard execution can
    execution="standard",
    # who signs off (never the run's starter), told through the report_signoffs queue; the account is the offline
    # one (123456789012): a deployment declares its own approver roles
    approvals=ApprovalSettings(
        approver_roles=("arn:aws:iam::123456789012:role/compliance-officer",),
        notify=ResourceRef(kind=ResourceKind.QUEUE, name="report_signoffs"),
        default_expiry_seconds=86400,
    ),
    offline_fixture="compliance_review_app.offline:prepare",
)

CATALOG: Catalog = build_catalog(resources=RESOURCES, tools=TOOLS, agents=AGENTS, workflows=[WORKFLOW])
