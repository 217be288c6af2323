"""The kit as a new user meets it: install Baton into a fresh virtual environment, `baton init`, then run,
test and synthesize the new app, each with the command its README gives.

Opt-in: it needs a wheelhouse (BATON_WHEELHOUSE) holding wheels of every dependency of baton[cdk,offline],
of pytest and of setuptools==80.9.0 (the build backend), because nothing may come from the network:

    .venv/bin/pip download -d /tmp/wheelhouse '.[cdk,offline]' pytest setuptools==80.9.0
    BATON_WHEELHOUSE=/tmp/wheelhouse .venv/bin/pytest tests/kit/test_init.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ROLES_CHECK = Path(__file__).with_name("roles_check.py")
PLUGIN = "baton.testing.pytest_plugin"
# what a clean checkout holds beyond what is needed to build Baton: left out of the copy that is installed
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "node_modules",
    "cdk.out",
    "build",
    "dist",
    ".baton",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "results",
)


def clean_env(venv: Path) -> dict[str, str]:
    """This machine's environment without anything that would point at the repository's own setup."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "PYTEST_", "BATON_", "VIRTUAL_ENV", "PYTHON", "MYPY"))
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PIP_CONFIG_FILE": os.devnull,  # no machine-wide index or constraints
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDK_DISABLE_VERSION_CHECK": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    return env


def sh(*argv: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (fixed commands of this test)
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


@pytest.mark.slow
def test_a_new_app_runs_tests_and_synthesizes_from_a_fresh_install(tmp_path_factory: pytest.TempPathFactory) -> None:
    wheelhouse = os.environ.get("BATON_WHEELHOUSE")
    if not wheelhouse:
        pytest.skip("BATON_WHEELHOUSE is not set (a folder of wheels for baton[cdk,offline], pytest, setuptools)")
    if not CDK.exists():
        pytest.fail(f"{CDK} is missing: run `npm ci` (make test does) before this test")
    base = tmp_path_factory.mktemp("kit")
    assert not base.resolve().is_relative_to(ROOT), "the new app must live outside the repository"
    venv = base / "venv"
    env = clean_env(venv)

    # Given Baton installed from a copy of this repository (a build writes only into the copy) with pytest
    source = base / "baton-src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCES)
    sh(sys.executable, "-m", "venv", venv, cwd=base, env=env)
    python = venv / "bin" / "python"
    sh(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        wheelhouse,
        f"{source}[cdk,offline]",
        "pytest",
        cwd=base,
        env=env,
        timeout=600,
    )
    installed = sh(
        python,
        "-c",
        "import importlib.metadata as m; print(sorted(e.value for e in m.entry_points(group='pytest11')))",
        cwd=base,
        env=env,
    )
    assert PLUGIN in installed.stdout, (
        "Baton's pytest plugin is not registered: add to pyproject.toml\n"
        f'[project.entry-points.pytest11]\n"{PLUGIN}" = "{PLUGIN}"'
    )

    # When `baton init myapp` creates the app
    sh(venv / "bin" / "baton", "init", "myapp", cwd=base, env=env)
    app = base / "myapp"

    # Then its example runs offline to SUCCEEDED
    ran = sh(venv / "bin" / "baton", "run", "triage", "--input", "examples/default.json", "--json", cwd=app, env=env)
    document = json.loads(ran.stdout)
    assert document["status"] == "SUCCEEDED"
    assert document["result"]["priority"] == "urgent"
    assert Path(document["log_file"]).is_file()

    # and its own tests pass, with Baton's pytest fixtures
    tested = sh(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=app, env=env)
    assert " passed" in tested.stdout
    assert "failed" not in tested.stdout
    assert "skipped" not in tested.stdout

    # and `cdk synth` (the repository's pinned CLI) writes a template whose every agent role holds exactly the
    # statements baton.iam derives from the app's catalog
    sh(CDK, "synth", "--quiet", "--no-notices", "-c", "baton:bundle=false", cwd=app, env=env, timeout=600)
    stack = json.loads((app / "cdk.json").read_text())["context"]["baton:stack"]
    template = app / "cdk.out" / f"{stack}.template.json"
    report: dict[str, Any] = json.loads(sh(python, ROLES_CHECK, template, cwd=app, env=env).stdout)
    assert sorted(report["agents"]) == report["catalog_agents"] == ["classifier", "customer_lookup"]
    for name, role in report["agents"].items():
        assert role["actual"] == role["expected"], name
        assert role["managed_policies"] == []
        assert role["attached_policies"] == []
    lookup = {s["Sid"]: s for s in report["agents"]["customer_lookup"]["actual"]}
    assert lookup["ToolGetCustomer0"]["Action"] == ["dynamodb:GetItem"]
    assert not [s for s in report["agents"]["classifier"]["actual"] if s["Sid"].startswith("Tool")]
