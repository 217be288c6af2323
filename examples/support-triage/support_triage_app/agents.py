"""The support-triage workflow's coded agent (its FAQ agent is model-backed: declared in the catalog only)."""

from __future__ import annotations

from baton.tools import ToolBox
from support_triage_app.models import HandoffInput, HandoffQueued


def handoff(task: HandoffInput, tools: ToolBox) -> HandoffQueued:
    message_id = tools.call(
        "queue_for_human",
        customer_id=task.customer_id,
        order_id=task.order_id,
        reason=task.reason,
        message=task.message,
    )
    return HandoffQueued(case_id=f"case-{message_id}")
