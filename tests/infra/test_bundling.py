"""What each function's asset holds (the runtime's dependency closure and only the sources it imports), and how
its dependencies are installed: from the hashed Lambda lock, by a pip that no setting of this machine reaches.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from baton.bundle import KINDS, RUNTIME_DISTRIBUTIONS, RUNTIME_PROVIDED, lambda_lock, pinned_versions, source_files
from baton.infra import bundling
from baton.infra.bundling import DEFAULT_INDEX_URL, PackageSource, pip_command, pip_environment
from refund_app.catalog import CATALOG


def _closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = [Requirement(r) for r in roots]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in RUNTIME_PROVIDED or name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            child = Requirement(raw)
            environment = {"extra": ",".join(requirement.extras) or ""}
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in (requirement.extras or {""})
            ):
                del environment
                pending.append(child)
    return seen


def test_bundled_distributions_are_the_closure_of_what_the_handlers_import() -> None:
    # Given the handlers' imports (Powertools with its tracer, pydantic), minus what the Lambda runtime provides
    expected = _closure(["aws-lambda-powertools[tracer]", "pydantic"])
    # Then the bundled list is exactly that closure: boto3 and botocore are never bundled
    assert set(RUNTIME_DISTRIBUTIONS) == expected
    assert not set(RUNTIME_DISTRIBUTIONS) & RUNTIME_PROVIDED


def test_only_agents_with_an_mcp_tool_ship_the_mcp_sdk_and_its_closure() -> None:
    """Given the MCP SDK's declared requirements, and an app with one MCP tool
    When the MCP distributions and each agent's extra locks are derived
    Then they are the SDK's closure beyond what every function ships (boto3's excluded), and only the agent with an
    MCP tool installs the MCP lock (its asset hash differs accordingly)."""
    from baton.bundle import MCP_DISTRIBUTIONS, mcp_lock, uses_mcp
    from baton.infra.bundling import asset_hash, extra_locks
    from tests.local.mcp_app import CATALOG as MCP_CATALOG

    assert set(MCP_DISTRIBUTIONS) == _closure(["mcp"]) - set(RUNTIME_DISTRIBUTIONS)
    assert uses_mcp(MCP_CATALOG, "support")
    assert not any(uses_mcp(CATALOG, agent) for agent in CATALOG.agents)
    assert extra_locks(mcp_client=True) == [mcp_lock()]
    assert extra_locks() == []
    assert asset_hash("agent", "", mcp_client=True) != asset_hash("agent", "")


@pytest.mark.attack("ASI04")
def test_versions_are_pinned_exactly() -> None:
    # the Lambda lock pins each runtime distribution at the version the dev environment runs the tests with
    pins = pinned_versions()
    assert set(pins) == set(RUNTIME_DISTRIBUTIONS)
    assert pins == {dist: metadata.version(dist) for dist in RUNTIME_DISTRIBUTIONS}


@pytest.mark.attack("ASI04")
def test_each_function_ships_only_its_own_handler_and_no_offline_code() -> None:
    for kind in KINDS:
        files = {target.as_posix() for _, target in source_files(kind, CATALOG)}
        assert f"baton/functions/{kind}/handler.py" in files
        assert "baton/functions/__init__.py" in files
        assert "refund_app/catalog.py" in files
        others = {k for k in KINDS if k != kind}
        assert not any(f.startswith(tuple(f"baton/functions/{o}/" for o in others)) for f in files)
        assert not any(f.startswith(("baton/local/", "baton/infra/")) or f == "baton/cli.py" for f in files)
        assert not any(f.startswith("refund_app/offline") for f in files)
        assert not any("__pycache__" in Path(f).parts for f in files)


# ---------------------------------------------------------------- how the dependencies are installed

LEAKY_SETTINGS = {
    "PIP_INDEX_URL": "https://mirror.invalid/simple",
    "PIP_EXTRA_INDEX_URL": "file:///opt/pypi/simple",
    "PIP_FIND_LINKS": "/opt/wheels",
    "PIP_CONSTRAINT": "/etc/xdg/pip/constraints.txt",
    "PIP_NO_DEPS": "0",
    "PIP_CONFIG_FILE": "/etc/pip.conf",
    "PYTHONPATH": "/elsewhere",
}


@pytest.mark.attack("ASI04")
def test_pip_sees_no_pip_setting_of_this_machine() -> None:
    # Given an environment full of pip settings (and a config file), as a developer's machine may have
    kept = {"PATH": "/usr/bin", "HOME": "/home/dev", "HTTPS_PROXY": "http://proxy:3128"}
    env = pip_environment({**kept, **LEAKY_SETTINGS})
    # Then pip runs with none of them: only PATH, HOME, proxies, and no config file at all
    assert env == {**kept, "PIP_CONFIG_FILE": os.devnull}


@pytest.mark.attack("ASI04")
def test_the_install_is_isolated_hash_checked_and_names_its_index(tmp_path: Path) -> None:
    command = pip_command(tmp_path, PackageSource())
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for flag in ("--isolated", "--require-hashes", "--no-deps", "--only-binary=:all:", "--no-input"):
        assert flag in command
    assert command[command.index("--index-url") + 1] == DEFAULT_INDEX_URL == "https://pypi.org/simple"
    assert command[command.index("--requirement") + 1] == str(lambda_lock())
    assert command[command.index("--target") + 1] == str(tmp_path)
    assert not {"--extra-index-url", "--find-links", "--constraint", "--no-index", "--trusted-host"} & set(command)


def test_the_index_or_a_wheelhouse_come_from_explicit_context_only(tmp_path: Path) -> None:
    from aws_cdk import App

    def source(**context: str) -> PackageSource:
        return PackageSource.from_context(App(context=context).node)

    assert source() == PackageSource(index_url=DEFAULT_INDEX_URL)
    mirror = source(**{"baton:pip-index-url": "https://mirror.example/simple"})
    assert mirror.pip_arguments()[:2] == ["--index-url", "https://mirror.example/simple"]
    wheels = source(**{"baton:wheelhouse": str(tmp_path)})
    assert wheels.pip_arguments() == ["--no-index", "--find-links", str(tmp_path)]
    with pytest.raises(ValueError, match="not both"):
        source(**{"baton:wheelhouse": str(tmp_path), "baton:pip-index-url": "https://mirror.example/simple"})
    with pytest.raises(ValueError, match="https:// or file://"):
        source(**{"baton:pip-index-url": "http://mirror.example/simple"})
    with pytest.raises(ValueError, match="is not a directory"):
        source(**{"baton:wheelhouse": str(tmp_path / "missing")})


def test_the_dependency_cache_is_keyed_by_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = bundling.dependencies_key()
    changed = tmp_path / "lambda-requirements.txt"
    changed.write_text(lambda_lock().read_text().replace("wrapt==", "wrapt===", 1))
    monkeypatch.setattr(bundling, "lambda_lock", lambda: changed)
    assert bundling.dependencies_key() != key
