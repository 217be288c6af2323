"""`baton init`: the app it writes is complete, lint-clean, strictly typed, and its own tests pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from baton import __version__
from baton.scaffold import TEMPLATE_DIR, ScaffoldError, create_app, templates

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXPECTED_FILES = [
    ".gitignore",
    "Makefile",
    "README.md",
    "cdk.json",
    "examples/default.json",
    "helpdesk/__init__.py",
    "helpdesk/agents.py",
    "helpdesk/catalog.py",
    "helpdesk/models.py",
    "helpdesk/offline.py",
    "helpdesk/planner.py",
    "helpdesk/tools.py",
    "pyproject.toml",
    "tests/test_helpdesk.py",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_app(tmp_path_factory.mktemp("apps") / "helpdesk").root


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (fixed commands of this test)
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_app_has_every_file_and_nothing_else(app: Path) -> None:
    found = sorted(p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file())
    assert found == EXPECTED_FILES
    assert len(templates()) == len(EXPECTED_FILES)
    assert all(p.suffix == ".tmpl" for p in TEMPLATE_DIR.rglob("*") if p.is_file())


def test_its_configuration_names_the_catalog_the_cdk_app_and_the_test_path(app: Path) -> None:
    pyproject = tomllib.loads((app / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "helpdesk"
    assert pyproject["project"]["dependencies"] == [f"baton>={__version__}"]
    assert pyproject["tool"]["baton"]["catalog"] == "helpdesk.catalog:CATALOG"
    assert pyproject["tool"]["pytest"]["ini_options"]["pythonpath"] == ["."]
    cdk = json.loads((app / "cdk.json").read_text())
    assert cdk["app"] == "python -m baton.infra"
    assert cdk["context"]["baton:stack"] == "helpdesk"
    makefile = (app / "Makefile").read_text()
    for target, command in [
        ("run", "$(BATON) run triage --input examples/default.json"),
        ("test", "$(PYTHON) -m pytest"),
        ("synth", "$(CDK) synth"),
    ]:
        assert re.search(rf"^{target}:\n\t{re.escape(command)}$", makefile, re.MULTILINE), target
    readme = (app / "README.md").read_text()
    for command in ("baton run triage --input examples/default.json", "python -m pytest", "synth", "make run"):
        assert command in readme
    # every placeholder was rendered
    assert not [p for p in app.rglob("*") if p.is_file() and re.search(r"\$\{?[A-Za-z_]", p.read_text())]


def test_its_models_forbid_extra_fields_and_its_tool_declares_trust(app: Path) -> None:
    text = (app / "helpdesk" / "catalog.py").read_text()
    assert "output_trusted=True" in text
    assert 'model_config = ConfigDict(extra="forbid", defer_build=True)' in (app / "helpdesk" / "models.py").read_text()


def test_it_passes_ruff_and_strict_mypy(app: Path, tmp_path: Path) -> None:
    rules = "E,F,W,I,B,UP,S,SIM,RUF,PL,C4,PT,RET"
    checked = run(BIN / "ruff", "check", "--select", rules, "--ignore", "S101,PLR2004", ".", cwd=app)
    assert checked.returncode == 0, checked.stdout
    formatted = run(BIN / "ruff", "format", "--check", ".", cwd=app)
    assert formatted.returncode == 0, formatted.stdout
    # Baton is installed in editable mode here, which mypy does not follow: point it at the sources
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    typed = run(BIN / "mypy", "--strict", "--cache-dir", tmp_path / "mypy", "helpdesk", "tests", cwd=app, env=env)
    assert typed.returncode == 0, typed.stdout


def test_its_own_tests_pass_with_batons_fixtures(app: Path) -> None:
    # the plugin named explicitly (and autoload off) until Baton's entry point registers it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "BATON_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "baton.testing.pytest_plugin", cwd=app, env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 passed" in result.stdout


def test_it_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    (tmp_path / "helpdesk").write_text("")
    with pytest.raises(ScaffoldError, match="not a folder"):
        create_app(tmp_path / "helpdesk")


def test_an_empty_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "helpdesk").mkdir()
    assert create_app(tmp_path / "helpdesk").package == "helpdesk"
