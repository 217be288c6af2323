"""Baton's pytest plugin: its fixtures run an app offline, and it never breaks a test run without moto."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "baton.testing.pytest_plugin"


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a folder of its own, with only this plugin (autoload off: no double registration)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "BATON_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(  # noqa: S603 (fixed command)
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", PLUGIN, "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_importing_the_plugin_imports_no_moto() -> None:
    code = f"import sys, {PLUGIN}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('moto', 'boto3')))"
    result = subprocess.run(  # noqa: S603 (fixed command)
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_without_moto_tests_using_the_fixtures_are_skipped_and_the_others_run(tmp_path: Path) -> None:
    # Given a test run where moto cannot be imported (Baton installed without its offline extra)
    (tmp_path / "conftest.py").write_text('import sys\n\nsys.modules["moto"] = None  # not installed\n')
    (tmp_path / "test_app.py").write_text(
        "def test_plain():\n    assert True\n\n\n"
        "def test_offline(baton_run):\n    baton_run('refund', {'order_id': 'ORD-1001'})\n"
    )
    # When it runs / Then the plain test passes and the offline one is skipped, saying why
    result = pytest_in(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
    assert "needs Baton's offline extra (moto is missing)" in result.stdout


def test_baton_catalog_chooses_the_app_and_baton_run_returns_a_verified_record(tmp_path: Path) -> None:
    # Given a test module outside any app that names the catalog to deploy
    (tmp_path / "test_refund.py").write_text(
        "import pytest\n\n\n"
        "@pytest.fixture(scope='module')\n"
        "def baton_catalog():\n    return 'refund_app.catalog:CATALOG'\n\n\n"
        "def test_refund(baton_run, baton_engine):\n"
        "    record = baton_run('refund', {'order_id': 'ORD-1002'}, timeout_seconds=30)\n"
        "    assert record.status.value == 'SUCCEEDED'\n"
        "    assert record.result['outcome'] == 'denied'\n"
        "    assert 'refund' in baton_engine.catalog.workflows\n"
    )
    result = pytest_in(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout
