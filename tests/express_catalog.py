"""The refund workflow declared as an Express workflow (the reference catalog runs it as Standard)."""

from __future__ import annotations

from baton.catalog import build_catalog
from refund_app import catalog as refund

CATALOG = build_catalog(
    resources=refund.RESOURCES,
    tools=refund.TOOLS,
    agents=refund.AGENTS,
    workflows=[refund.WORKFLOW.model_copy(update={"execution": "express"})],
)
