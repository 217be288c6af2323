"""Synthesis refuses a catalog that grants an IAM action AWS does not have, in one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.config import AppConfig
from baton.iam_actions import UnknownActionsError

TYPO_CATALOG = """
from baton.catalog import Grant, build_catalog
from refund_app.catalog import CATALOG as REFUND

tools = [
    tool.model_copy(update={"grants": (Grant(actions=("dynamodb:GetItems",), resource=tool.grants[0].resource),)})
    if tool.name == "get_order"
    else tool
    for tool in REFUND.tools.values()
]
CATALOG = build_catalog(
    resources=list(REFUND.resources.values()),
    tools=tools,
    agents=list(REFUND.agents.values()),
    workflows=list(REFUND.workflows.values()),
)
"""
EXPECTED = (
    "1 unknown IAM action(s): tool 'get_order' grants dynamodb:GetItems: no such IAM action "
    "(did you mean dynamodb:GetItem?)"
)


@pytest.fixture
def typo_app(tmp_path: Path) -> Path:
    (tmp_path / "typo_catalog.py").write_text(TYPO_CATALOG)
    return tmp_path


def test_build_app_refuses_an_unknown_action_before_building_the_stack(typo_app: Path) -> None:
    from aws_cdk import App

    from baton.infra.app import build_app

    app = App(context={"baton:bundle": "false"}, outdir=str(typo_app / "cdk.out"))
    with pytest.raises(UnknownActionsError) as refused:
        build_app(app, catalog=AppConfig(("typo_catalog:CATALOG",), root=typo_app))
    assert str(refused.value) == EXPECTED
    assert app.node.children == []  # no stack was built


def test_cdk_synth_fails_with_one_line(typo_app: Path) -> None:
    # `python -m baton.infra` is what cdk.json runs for `cdk synth`
    env = {**os.environ, "BATON_CATALOG": "typo_catalog:CATALOG", "PYTHONPATH": str(typo_app)}
    result = subprocess.run(
        [sys.executable, "-m", "baton.infra"],
        cwd=typo_app,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"baton: {EXPECTED}"
    assert "Traceback" not in result.stderr
