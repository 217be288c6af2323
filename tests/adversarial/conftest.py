"""The adversarial suite's fixtures: one deployment open at a time (the app, or its log-only control), and the
goal x channel -> stopped-by table printed at the end of a run that ran any of its rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adversarial.harness import Deployments
from tests.adversarial.rows import OBSERVED, table_text


@pytest.fixture(scope="module")
def deployments() -> Iterator[Deployments]:
    opened = Deployments()
    try:
        yield opened
    finally:
        opened.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if OBSERVED:
        terminalreporter.write_sep("=", "the adversarial suite: goal x channel -> stopped by")
        terminalreporter.write_line(table_text(OBSERVED))
