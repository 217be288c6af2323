from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.local.engine import LocalEngine


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """One offline deployment per test module (moto is process-global: never two engines at once)."""
    with LocalEngine("tests.testapp.catalog:CATALOG") as local:
        yield local
