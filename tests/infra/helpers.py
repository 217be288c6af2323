"""Reading IAM out of a synthesized template."""

from __future__ import annotations

from typing import Any


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def normalized(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement with Action and Resource always lists, in a canonical order."""
    result = dict(statement)
    for key in ("Action", "Resource", "NotAction", "NotResource"):
        if key in result:
            result[key] = sorted(as_list(result[key]), key=repr)
    return result


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        normalized(statement)
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def all_policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every identity or resource policy in the template, with its resource's logical id."""
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        for key in ("PolicyDocument", "ResourcePolicy"):
            if isinstance(properties.get(key), dict):
                documents.append(properties[key])
        for document in documents:
            found += [(logical_id, normalized(s)) for s in document.get("Statement", [])]
    return found


def function_role(template: dict[str, Any], function_id: str) -> str:
    role = template["Resources"][function_id]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def functions_by_env(template: dict[str, Any], variable: str) -> dict[str, str]:
    """Lambda logical ids by the value of one of their environment variables."""
    found: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        value = resource["Properties"].get("Environment", {}).get("Variables", {}).get(variable)
        if isinstance(value, str):
            found[value] = logical_id
    return found
