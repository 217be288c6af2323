"""Synthesizes Baton's test app once per test session, without bundling (sources only, no pip); and, for the
tests that must hold whatever the catalog holds, the same app with one more workflow."""

from __future__ import annotations

import os

import pytest

from baton.testing.cloudformation import Synthesized, synthesize
from tests.infra.helpers import EXTENDED_CATALOG_PATH, TEST_CATALOG_PATH

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

__all__ = ["Synthesized"]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The test app ("tests.testapp.catalog:CATALOG"), synthesized as `cdk synth` would (stack "Baton")."""
    return synthesize(TEST_CATALOG_PATH, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The test app plus one workflow (helpers.EXTENDED_CATALOG): adding a workflow must break no check."""
    return synthesize(EXTENDED_CATALOG_PATH, tmp_path_factory.mktemp("cdk.out.extended"))


@pytest.fixture(scope="session", params=["test app", "test app + one workflow"])
def app(request: pytest.FixtureRequest) -> Synthesized:
    """Each synthesized catalog in turn, for the checks that must hold for any catalog."""
    name = "synthesized" if request.param == "test app" else "extended"
    synthesized_app: Synthesized = request.getfixturevalue(name)
    return synthesized_app
