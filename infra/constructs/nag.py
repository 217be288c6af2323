"""cdk-nag acknowledgements: each names one finding (rule and, where the rule reports several, its
resource) on one construct, with the reason. `ACKNOWLEDGED` records them all for the closing report."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

# (construct path, finding id, reason), in the order they were made
ACKNOWLEDGED: list[tuple[str, str, str]] = []


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))
    ACKNOWLEDGED.append((construct.node.path, finding, reason))


def nag_resource(scope: IConstruct, value: Any) -> str:
    """How cdk-nag names a resolved value in a finding id: <LogicalId.Attr>, <LogicalId>, or the string."""
    resolved: Any = Stack.of(scope).resolve(value)
    if isinstance(resolved, str):
        return str(resolved)
    if isinstance(resolved, dict) and "Fn::GetAtt" in resolved:
        logical_id, attribute = resolved["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if isinstance(resolved, dict) and "Ref" in resolved:
        return f"<{resolved['Ref']}>"
    if isinstance(resolved, dict) and "Fn::Join" in resolved:
        separator: str = resolved["Fn::Join"][0]
        parts: list[Any] = resolved["Fn::Join"][1]
        return separator.join(nag_resource(scope, part) if not isinstance(part, str) else part for part in parts)
    if isinstance(resolved, dict) and set(resolved) <= {"Fn::Select", "Fn::Split"}:
        # cdk-nag's fallback (flattenCfnReference): the intrinsic as JSON, as JavaScript's JSON.stringify writes it
        return json.dumps(resolved, separators=(",", ":"))
    raise TypeError(f"cannot name {resolved!r} as cdk-nag does")
