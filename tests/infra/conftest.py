"""Synthesizes the Baton app once per test session, without bundling (sources only, no pip)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@dataclass(frozen=True)
class Synthesized:
    stack: Any  # infra.stacks.baton_stack.BatonStack
    template: dict[str, Any]
    outdir: Path

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def logical_id(self, construct: Any) -> str:
        return str(self.stack.get_logical_id(construct.node.default_child))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk import App

    from baton.infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(App(context={"baton:bundle": "false"}, outdir=str(outdir)))
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synthesized(stack=stack, template=template, outdir=outdir)
