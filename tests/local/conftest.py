from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.local.engine import LocalEngine


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    """One offline deployment of the reference catalog per test module (moto is process-global)."""
    with LocalEngine() as local:
        yield local
