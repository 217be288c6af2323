"""Lambda assets without Docker: pip installs wheels for the Lambda's platform, then the function's sources.

The dependencies are installed once per synth machine into a cache keyed by their pins and the target
platform (.baton/lambda-deps/<key> in the app's directory), then copied into each function's asset with
the sources `baton.bundle` lists for it: the installed baton package and the app's own packages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from baton.bundle import PLATFORM, PYTHON_VERSION, pinned_versions, source_files
from baton.catalog import Catalog
from baton.config import AppConfig, load_app, parse_catalog_paths

CACHE_DIR = Path(".baton") / "lambda-deps"


def requirements() -> list[str]:
    return [f"{dist}=={version}" for dist, version in pinned_versions().items()]


def dependencies_dir() -> Path:
    """The shared, cached dependency directory (pip runs at most once per pin set)."""
    reqs = requirements()
    key = hashlib.sha256("\n".join([PLATFORM, PYTHON_VERSION, *reqs]).encode()).hexdigest()[:16]
    cache = CACHE_DIR.resolve()
    target = cache / key
    if (target / ".complete").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=cache))
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


def _catalog(catalog_source: str) -> Catalog:
    return load_app(AppConfig(parse_catalog_paths(catalog_source))).catalog


def copy_sources(kind: str, catalog_source: str, output_dir: Path) -> None:
    for path, target in source_files(kind, _catalog(catalog_source)):
        destination = output_dir / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def asset_hash(kind: str, catalog_source: str) -> str:
    digest = hashlib.sha256()
    for line in [kind, PLATFORM, PYTHON_VERSION, *requirements()]:
        digest.update(line.encode() + b"\n")
    for path, target in source_files(kind, _catalog(catalog_source)):
        digest.update(target.as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Bundles a function's asset on this machine: cached dependencies plus its own sources."""

    def __init__(self, kind: str, catalog_source: str) -> None:
        self.kind = kind
        self.catalog_source = catalog_source

    def try_bundle(self, output_dir: str, *args: Any, **options: Any) -> bool:
        del args, options  # the Docker options do not apply to local bundling
        output = Path(output_dir)
        shutil.copytree(dependencies_dir(), output, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        copy_sources(self.kind, self.catalog_source, output)
        return True


@dataclass(frozen=True)
class FunctionCode:
    """The code of one function; `bundle=False` (tests) ships the sources without dependencies."""

    bundle: bool = True

    def for_function(self, kind: str, catalog_source: str) -> lambda_.Code:
        handler_dir = Path(__file__).parent.parent / "functions" / kind
        digest = asset_hash(kind, catalog_source)
        if not self.bundle:
            staging = Path(tempfile.mkdtemp(prefix=f"baton-{kind}-"))
            copy_sources(kind, catalog_source, staging)
            return lambda_.Code.from_asset(str(staging), asset_hash=digest, asset_hash_type=AssetHashType.CUSTOM)
        return lambda_.Code.from_asset(
            str(handler_dir),
            asset_hash=digest,
            asset_hash_type=AssetHashType.CUSTOM,
            bundling=BundlingOptions(
                # required by the API, never pulled: local bundling always succeeds or raises
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
                local=LocalPipBundling(kind, catalog_source),
            ),
        )
