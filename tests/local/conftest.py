from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.local.engine import LocalEngine

TEST_APP = "tests.testapp.catalog:CATALOG"


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """One offline deployment of Baton's test app per test module (moto is process-global)."""
    with LocalEngine(TEST_APP) as local:
        yield local
