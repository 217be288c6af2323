"""The catalog of reference workflows: every agent, tool and workflow Baton deploys, declared once."""

from baton.catalog import build_catalog
from workflows.refund import catalog as refund

CATALOG = build_catalog(
    resources=[*refund.RESOURCES],
    tools=[*refund.TOOLS],
    agents=[*refund.AGENTS],
    workflows=[refund.WORKFLOW],
)
