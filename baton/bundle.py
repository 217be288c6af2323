"""What a Lambda function's asset holds, decided without CDK (the CDK bundling, the bench and tests share it).

An asset is: the third-party distributions the runtime imports (installed for the Lambda's platform; boto3
and its dependencies come with the Lambda runtime), the installed `baton` package without what only runs
on a developer's machine (CDK constructs, the offline engine, the CLI, the test helpers, the app scaffold),
and the app's own packages: the top-level packages the function's catalog refers to, without their offline
fixtures (by convention, a module or package named `offline`, and the module of each `offline_fixture`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from baton.catalog import Catalog

PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"
# The closure of what the handlers import beyond the standard library and the runtime's boto3:
# aws-lambda-powertools[tracer] (Tracer needs aws-xray-sdk, which needs wrapt) and pydantic.
# Installed with --no-deps so aws-xray-sdk's dependency on botocore does not drag botocore in;
# tests/infra checks this list against the packages' declared requirements.
RUNTIME_DISTRIBUTIONS = (
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "wrapt",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
)
# provided by the Lambda Python runtime (boto3 and its dependencies)
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
KINDS = ("agent", "orchestrator", "api")
# never shipped: CDK constructs, the offline engine, the CLI, test helpers, the app scaffold, caches
_BATON_EXCLUDED = frozenset({"infra", "local", "testing", "scaffold", "cli.py", "__main__.py"})
_ALWAYS_EXCLUDED = frozenset({"__pycache__"})
OFFLINE_MODULE = "offline"


def baton_root() -> Path:
    """The installed baton package (not resolved: the repository's symlinked folders stay inside it)."""
    spec = importlib.util.find_spec("baton")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("baton is not importable")
    return Path(next(iter(spec.submodule_search_locations)))


def app_packages(catalog: Catalog) -> tuple[str, ...]:
    """The top-level packages (other than baton) whose code the catalog's functions import."""
    modules: set[str] = set()
    for workflow in catalog.workflows.values():
        modules.add(workflow.planner.partition(":")[0])
        modules.add(workflow.input_model.__module__)
    for tool in catalog.tools.values():
        modules.add(tool.implementation.partition(":")[0])
        modules.add(tool.arguments.__module__)
    for agent in catalog.agents.values():
        modules.add(agent.implementation.partition(":")[0])
        modules |= {agent.input_model.__module__, agent.output_model.__module__}
    tops = {module.split(".")[0] for module in modules}
    return tuple(sorted(tops - {"baton", "builtins", *sys.stdlib_module_names}))


def offline_modules(catalog: Catalog) -> frozenset[str]:
    return frozenset(w.offline_fixture.partition(":")[0] for w in catalog.workflows.values() if w.offline_fixture)


def _walk(
    root: Path, prefix: Path, excluded_top: frozenset[str], excluded_modules: frozenset[str]
) -> Iterator[tuple[Path, Path]]:
    # os.walk follows the repository's links (baton/functions -> functions/); Path.rglob would not
    found = [Path(top, name) for top, _, names in os.walk(root, followlinks=True) for name in names]
    for path in sorted(found):
        relative = path.relative_to(root)
        parts = relative.parts
        if not path.is_file() or _ALWAYS_EXCLUDED.intersection(parts) or parts[0] in excluded_top:
            continue
        if path.suffix in {".pyc", ".pyo"} or OFFLINE_MODULE in parts or relative.stem == OFFLINE_MODULE:
            continue
        module = ".".join((prefix / relative.with_suffix("")).parts)
        if module in excluded_modules or any(module.startswith(m + ".") for m in excluded_modules):
            continue
        yield path, prefix / relative


def source_files(kind: str, catalog: Catalog) -> list[tuple[Path, Path]]:
    """(file on this machine, path inside the asset) for Baton's and the app's sources of one function."""
    if kind not in KINDS:
        raise ValueError(f"unknown function kind {kind!r}")
    others = frozenset(f"functions/{k}" for k in KINDS if k != kind)
    files = [
        (path, target)
        for path, target in _walk(baton_root(), Path("baton"), _BATON_EXCLUDED, frozenset())
        if not any(target.as_posix().startswith(f"baton/{o}/") for o in others)
    ]
    skip = offline_modules(catalog)
    for package in app_packages(catalog):
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise RuntimeError(f"app package {package!r} is not importable")
        if spec.submodule_search_locations:
            files += _walk(Path(next(iter(spec.submodule_search_locations))), Path(package), frozenset(), skip)
        elif spec.origin:
            files.append((Path(spec.origin), Path(Path(spec.origin).name)))
    return sorted(files, key=lambda pair: pair[1].as_posix())


def pinned_versions() -> dict[str, str]:
    """Exact versions of the runtime distributions, as installed here (the lock pins what is installed)."""
    return {dist: metadata.version(dist) for dist in RUNTIME_DISTRIBUTIONS}
