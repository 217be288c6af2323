"""Lambda assets without Docker: pip installs wheels for the Lambda's platform, then only the needed sources.

The dependencies are installed once per synth machine into a cache keyed by their pins and the target
platform (build/lambda-deps/<key>), then copied into each function's asset with only the source packages
that function imports. boto3 and botocore (and their own dependencies) come with the Lambda runtime and
are never bundled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS_FILE = REPO_ROOT / "constraints.txt"
CACHE_DIR = REPO_ROOT / "build" / "lambda-deps"

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

# what each kind of function imports from this repository (functions/__init__.py comes with functions/)
SOURCES: dict[str, tuple[str, ...]] = {
    "agent": ("baton", "functions/agent", "workflows"),
    "orchestrator": ("baton", "functions/orchestrator", "workflows"),
    "api": ("baton", "functions/api", "workflows"),
}
# never shipped: the offline engine (moto), the CLI, caches
_EXCLUDED_PARTS = frozenset({"__pycache__", "local"})
_EXCLUDED_FILES = frozenset({"baton/cli.py"})


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def pinned_versions() -> dict[str, str]:
    """Exact versions: constraints.txt when the repository has one, else the versions installed here."""
    pins: dict[str, str] = {}
    if CONSTRAINTS_FILE.exists():
        for line in CONSTRAINTS_FILE.read_text().splitlines():
            name, sep, version = line.split("#")[0].strip().partition("==")
            if sep:
                pins[_canonical(name.split("[")[0])] = version.split(";")[0].strip()
    return {dist: pins.get(dist) or metadata.version(dist) for dist in RUNTIME_DISTRIBUTIONS}


def requirements() -> list[str]:
    return [f"{dist}=={version}" for dist, version in pinned_versions().items()]


def dependencies_dir() -> Path:
    """The shared, cached dependency directory (pip runs at most once per pin set)."""
    reqs = requirements()
    key = hashlib.sha256("\n".join([PLATFORM, PYTHON_VERSION, *reqs]).encode()).hexdigest()[:16]
    target = CACHE_DIR / key
    if (target / ".complete").exists():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=CACHE_DIR))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--platform",
        PLATFORM,
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--no-compile",
        "--target",
        str(staging),
        *reqs,
    ]
    # a machine-wide pip constraint file must not override the pins chosen here
    env = {**os.environ, "PIP_CONSTRAINT": ""}
    subprocess.run(command, check=True, env=env)  # noqa: S603 - fixed argv, no shell
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:  # another synth finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def source_files(kind: str) -> list[Path]:
    """Repository-relative paths of the source files a function of this kind ships."""
    files: list[Path] = []
    for top in SOURCES[kind]:
        root = REPO_ROOT / top
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(REPO_ROOT)
            if not path.is_file() or _EXCLUDED_PARTS.intersection(relative.parts):
                continue
            if relative.as_posix() in _EXCLUDED_FILES or path.suffix in {".pyc", ".pyo"}:
                continue
            files.append(relative)
        # parent packages (functions/__init__.py)
        for parent in Path(top).parents:
            init = parent / "__init__.py"
            if parent != Path(".") and (REPO_ROOT / init).exists() and init not in files:
                files.append(init)
    return sorted(set(files))


def copy_sources(kind: str, output_dir: Path) -> None:
    for relative in source_files(kind):
        destination = output_dir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, destination)


def asset_hash(kind: str) -> str:
    digest = hashlib.sha256()
    for line in [kind, PLATFORM, PYTHON_VERSION, *requirements()]:
        digest.update(line.encode() + b"\n")
    for relative in source_files(kind):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update((REPO_ROOT / relative).read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Bundles a function's asset on this machine: cached dependencies plus its own sources."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def try_bundle(self, output_dir: str, *args: Any, **options: Any) -> bool:
        del args, options  # the Docker options do not apply to local bundling
        output = Path(output_dir)
        shutil.copytree(dependencies_dir(), output, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        copy_sources(self.kind, output)
        return True


@dataclass(frozen=True)
class FunctionCode:
    """The code of one kind of function; `bundle=False` (tests) ships the sources without dependencies."""

    bundle: bool = True

    def for_kind(self, kind: str) -> lambda_.Code:
        if not self.bundle:
            return lambda_.Code.from_asset(
                str(REPO_ROOT / "functions" / kind), asset_hash=asset_hash(kind), asset_hash_type=AssetHashType.CUSTOM
            )
        return lambda_.Code.from_asset(
            str(REPO_ROOT / "functions" / kind),
            asset_hash=asset_hash(kind),
            asset_hash_type=AssetHashType.CUSTOM,
            bundling=BundlingOptions(
                # required by the API, never pulled: local bundling always succeeds or raises
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
                local=LocalPipBundling(kind),
            ),
        )
