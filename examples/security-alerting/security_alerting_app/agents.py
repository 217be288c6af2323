"""The security-alerting agents: coded, each a narrow specialist with only its own tools.

detector   turns a sensor's signal into a finding and publishes it (the only agent that knows the bus)
enricher   finds the asset's owner and sets a priority (enrichment workflow)
pager      pages the owning team's on-call (notification workflow)
"""

from __future__ import annotations

import hashlib

from baton.tools import ToolBox
from security_alerting_app.models import (
    AssetOwner,
    DetectionRequest,
    Enrichment,
    Finding,
    Page,
    Published,
    Severity,
)

SEVERITY: dict[str, Severity] = {"public-bucket": "high", "root-login": "critical", "open-security-group": "medium"}
OWNERS = {"payments-exports": "payments", "marketing-site": "web", "scratch-bucket": "platform"}


def detector(task: DetectionRequest, tools: ToolBox) -> Published:
    key = f"{task.account_id}/{task.resource_id}/{task.signal}".encode()
    finding = Finding(
        finding_id="f-" + hashlib.sha256(key).hexdigest()[:16],
        account_id=task.account_id,
        resource_id=task.resource_id,
        signal=task.signal,
        severity=SEVERITY[task.signal],
    )
    published = tools.call("publish_finding", **finding.model_dump())
    return Published(finding=finding, event_id=published["event_id"])


def enricher(task: Finding, tools: ToolBox) -> Enrichment:
    owner = AssetOwner.model_validate(tools.call("lookup_asset", resource_id=task.resource_id))
    production = owner.environment == "production"
    priority = "p1" if task.severity == "critical" or (production and task.severity == "high") else "p2"
    if task.severity == "low":
        priority = "p3"
    return Enrichment(finding_id=task.finding_id, owner=owner, priority=priority)


def pager(task: Finding, tools: ToolBox) -> Page:
    team = OWNERS.get(task.resource_id, "security")
    sent = tools.call("page_team", finding_id=task.finding_id, team=team, severity=task.severity)
    return Page(finding_id=task.finding_id, team=team, message_id=sent["message_id"])
