"""Lambda assets without Docker: pip installs the locked wheels for the Lambda's platform, then the function's sources.

The dependencies are the hashed lock `baton/infra/lambda-requirements.txt` (`make lock`: RUNTIME_DISTRIBUTIONS at
the versions the dev lock pins), installed with --require-hashes --no-deps once per synth machine into a cache
keyed by the lock and the target platform (.baton/lambda-deps/<key> in the app's directory), then copied into each
function's asset with the sources `baton.bundle` lists for it: the installed baton package and the app's own
packages. The function of an agent under tool-call policies also gets the policy engine, from its own hashed lock
(`baton/infra/lambda-policy-requirements.txt`), and the function of an agent with an MCP tool the MCP SDK (from
`baton/infra/lambda-mcp-requirements.txt`), each installed and cached the same way.

pip runs apart from this machine's pip settings: --isolated, PIP_CONFIG_FILE=os.devnull, and an environment built
here (PATH, HOME, temporary directory, locale and proxy variables only: no PIP_* variable leaks in). The index is
named on the command line: https://pypi.org/simple, or the CDK context's `baton:pip-index-url`, or, with
`baton:wheelhouse`, a local directory of wheels and no index at all. Whatever the source, every wheel must match
a hash of the lock. TLS is verified against the CA bundle Python's ssl module uses (the system's, passed with
--cert), so a machine whose HTTPS goes through an inspecting proxy trusted by the system works as any other.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Node

from baton.bundle import PLATFORM, PYTHON_VERSION, lambda_lock, mcp_lock, policy_lock, source_files
from baton.catalog import Catalog
from baton.config import AppConfig, load_app, parse_catalog_paths

CACHE_DIR = Path(".baton") / "lambda-deps"
DEFAULT_INDEX_URL = "https://pypi.org/simple"
INDEX_URL_CONTEXT = "baton:pip-index-url"
WHEELHOUSE_CONTEXT = "baton:wheelhouse"
# what pip may see of this process's environment: nothing that configures pip
PASSED_VARIABLES = (
    "PATH",
    "HOME",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "LANG",
    "LC_ALL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


@dataclass(frozen=True)
class PackageSource:
    """Where pip fetches the locked wheels: an index (pypi.org unless told) or a local wheelhouse, never both."""

    index_url: str = DEFAULT_INDEX_URL
    wheelhouse: Path | None = None

    def __post_init__(self) -> None:
        if not self.index_url.startswith(("https://", "file://")):
            raise ValueError(f"{INDEX_URL_CONTEXT} must be an https:// or file:// URL, not {self.index_url!r}")
        if self.wheelhouse is not None and not self.wheelhouse.is_dir():
            raise ValueError(f"{WHEELHOUSE_CONTEXT} {str(self.wheelhouse)!r} is not a directory")

    @classmethod
    def from_context(cls, node: Node) -> PackageSource:
        index_url = node.try_get_context(INDEX_URL_CONTEXT)
        wheelhouse = node.try_get_context(WHEELHOUSE_CONTEXT)
        if index_url and wheelhouse:
            raise ValueError(f"set {INDEX_URL_CONTEXT} or {WHEELHOUSE_CONTEXT}, not both")
        if wheelhouse:
            return cls(wheelhouse=Path(str(wheelhouse)).resolve())
        return cls(index_url=str(index_url or DEFAULT_INDEX_URL))

    def pip_arguments(self) -> list[str]:
        if self.wheelhouse is not None:
            return ["--no-index", "--find-links", str(self.wheelhouse)]
        arguments = ["--index-url", self.index_url]
        cafile = ssl.get_default_verify_paths().cafile
        if cafile and self.index_url.startswith("https://"):
            arguments += ["--cert", cafile]
        return arguments


def pip_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment pip runs in: built here, so no inherited PIP_* setting or config file applies."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in PASSED_VARIABLES if name in source}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def pip_command(target: Path, source: PackageSource, lock: Path | None = None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--isolated",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--require-hashes",
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
        str(target),
        *source.pip_arguments(),
        "--requirement",
        str(lock or lambda_lock()),
    ]


def dependencies_key(lock: Path | None = None) -> str:
    """What the installed dependencies depend on: the lock (hashes included) and the target platform."""
    digest = hashlib.sha256("\n".join([PLATFORM, PYTHON_VERSION, (lock or lambda_lock()).read_text()]).encode())
    return digest.hexdigest()[:16]


def dependencies_dir(source: PackageSource | None = None, lock: Path | None = None) -> Path:
    """The shared, cached dependency directory (pip runs at most once per lock; every wheel is hash-checked)."""
    key = dependencies_key(lock)
    cache = CACHE_DIR.resolve()
    target = cache / key
    if (target / ".complete").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=cache))
    command = pip_command(staging, source or PackageSource(), lock)
    subprocess.run(command, check=True, env=pip_environment())  # noqa: S603 - fixed argv, no shell
    (staging / ".complete").touch()
    try:
        staging.rename(target)
    except OSError:  # another synth finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _catalog(catalog_source: str) -> Catalog:
    """The catalog a function serves; "" for a function that serves none (the archiver ships no app code)."""
    if not catalog_source:
        return Catalog(resources={}, tools={}, agents={}, workflows={})
    return load_app(AppConfig(parse_catalog_paths(catalog_source))).catalog


def copy_sources(kind: str, catalog_source: str, output_dir: Path) -> None:
    for path, target in source_files(kind, _catalog(catalog_source)):
        destination = output_dir / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def extra_locks(policy_engine: bool = False, mcp_client: bool = False) -> list[Path]:
    """The locks a function installs beyond the Lambda lock: the policy engine's, the MCP SDK's."""
    return [*([policy_lock()] if policy_engine else []), *([mcp_lock()] if mcp_client else [])]


def asset_hash(kind: str, catalog_source: str, policy_engine: bool = False, mcp_client: bool = False) -> str:
    digest = hashlib.sha256()
    for line in [kind, dependencies_key(), *map(dependencies_key, extra_locks(policy_engine, mcp_client))]:
        digest.update(line.encode() + b"\n")
    for path, target in source_files(kind, _catalog(catalog_source)):
        digest.update(target.as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """Bundles a function's asset on this machine: cached dependencies (unless `source` is None) and its sources."""

    def __init__(
        self,
        kind: str,
        catalog_source: str,
        source: PackageSource | None,
        policy_engine: bool = False,
        mcp_client: bool = False,
    ) -> None:
        self.kind = kind
        self.catalog_source = catalog_source
        self.source = source
        self.policy_engine = policy_engine
        self.mcp_client = mcp_client

    def try_bundle(self, output_dir: str, *args: Any, **options: Any) -> bool:
        del args, options  # the Docker options do not apply to local bundling
        output = Path(output_dir)
        if self.source is not None:
            locks = [lambda_lock(), *extra_locks(self.policy_engine, self.mcp_client)]
            for lock in locks:
                dependencies = dependencies_dir(self.source, lock)
                shutil.copytree(dependencies, output, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        copy_sources(self.kind, self.catalog_source, output)
        return True


@dataclass(frozen=True)
class FunctionCode:
    """The code of one function; `bundle=False` (tests) ships the sources without dependencies."""

    bundle: bool = True
    source: PackageSource = field(default_factory=PackageSource)

    def for_function(
        self, kind: str, catalog_source: str, *, policy_engine: bool = False, mcp_client: bool = False
    ) -> lambda_.Code:
        handler_dir = Path(__file__).parent.parent / "functions" / kind
        digest = asset_hash(kind, catalog_source, policy_engine, mcp_client)
        # bundle=False: the sources alone, still staged by CDK under its output directory (nothing left in /tmp)
        return lambda_.Code.from_asset(
            str(handler_dir),
            asset_hash=digest,
            asset_hash_type=AssetHashType.CUSTOM,
            bundling=BundlingOptions(
                # required by the API, never pulled: local bundling always succeeds or raises
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
                local=LocalPipBundling(
                    kind,
                    catalog_source,
                    self.source if self.bundle else None,
                    policy_engine=policy_engine,
                    mcp_client=mcp_client,
                ),
            ),
        )
