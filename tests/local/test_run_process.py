"""`baton run` tunes cyclic garbage collection for its short-lived process (baton/cli.py) and leaves it as it found
it for a caller that goes on, such as this test process."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from baton.cli import main

ROOT = Path(__file__).resolve().parents[2]
REFUND = ["--catalog", "refund_app.catalog:CATALOG"]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_in_process_restores_garbage_collection(
    enabled: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    was_enabled = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        code = main([*REFUND, "run", "refund", "--input", str(ROOT / "examples" / "refund" / "default.json"), "--json"])
        assert (code, gc.isenabled(), gc.get_freeze_count()) == (0, enabled, 0)
    finally:
        (gc.enable if was_enabled else gc.disable)()
    assert '"status": "SUCCEEDED"' in capsys.readouterr().out


def test_a_run_that_fails_before_the_deployment_restores_garbage_collection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        main([*REFUND, "run", "refund", "--input", str(tmp_path / "missing.json")])
    assert (gc.isenabled(), gc.get_freeze_count()) == (True, 0)
