"""Test helpers for Baton apps. `baton.testing.pytest_plugin` provides the `baton_engine` and `baton_run`
fixtures (registered as a pytest plugin by Baton's package metadata).

Nothing here is imported by the runtime, and nothing here is shipped in a Lambda function's asset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from baton.runs import RunRecord

__all__ = ["BatonRun"]


class BatonRun(Protocol):
    """The `baton_run` fixture: run a workflow offline to its end and return its record."""

    def __call__(self, workflow: str, run_input: dict[str, Any], *, timeout_seconds: float = ...) -> RunRecord: ...
