"""The compliance-review workflow's tools. Each gets only its validated arguments and its own scoped context."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from baton.tools import AgentTaskFailed, ToolContext
from compliance_review_app.models import GetDocumentArgs, PublishReportArgs
from compliance_review_app.names import DOCUMENTS, REPORTS


def get_document(args: GetDocumentArgs, ctx: ToolContext) -> dict[str, str] | None:
    """The stored document, as it was received (its words are the sender's: untrusted), or None."""
    item = (
        ctx.aws("dynamodb")
        .get_item(TableName=ctx.resource(DOCUMENTS), Key={"document_id": {"S": args.document_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {name: str(value["S"]) for name, value in item.items() if "S" in value}


def publish_report(args: PublishReportArgs, ctx: ToolContext) -> dict[str, Any]:
    """Write the report to the reports table, once per document and run: a retry writing the very same report
    succeeds again, a different report under the same id is refused (the table is never overwritten)."""
    digest = hashlib.sha256(args.report_json.encode()).hexdigest()
    report_id = f"{args.document_id}/{ctx.run_id}"
    published_at = datetime.now(UTC).isoformat(timespec="seconds")
    client = ctx.aws("dynamodb")
    try:
        client.put_item(
            TableName=ctx.resource(REPORTS),
            Item={
                "report_id": {"S": report_id},
                "document_id": {"S": args.document_id},
                "report": {"S": args.report_json},
                "report_sha256": {"S": digest},
                "published_at": {"S": published_at},
            },
            ConditionExpression="attribute_not_exists(report_id) OR report_sha256 = :digest",
            ExpressionAttributeValues={":digest": {"S": digest}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise AgentTaskFailed(f"another report was already published as {report_id}") from None
    return {"report_id": report_id, "report_sha256": digest, "published_at": published_at}
