"""Every file of every Lambda asset, with bundling on, is on an allowlist: nothing offline-only is ever shipped.

The allowlist is derived here from its rules, not from baton.bundle (whose choices it checks) nor from a listing
of the assets:
- third-party: the files of each distribution the Lambda lock pins, as the RECORD of its dist-info lists them,
  each file matching the RECORD's hash (pip checked each wheel against the lock's hashes); and, in the function of
  an agent under tool-call policies and in no other, those of the policy lock (the Cedar engine);
- baton: the baton package's files except infra/ (CDK), local/ (offline engine), testing/, scaffold/, the CLI,
  the IAM action check (synthesis only), caches, and the handlers of the other kinds of function;
- the app: the files of each package the app's catalog paths name, except any module or package named
  `offline` (offline fixtures and their seed data) and the module of each workflow's offline_fixture.
Sources must be byte-identical to the files they come from.

One synthesis with bundling on serves the module (the pip install is cached under .baton/lambda-deps).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from baton.bundle import KINDS, lambda_lock, locked_versions, normalize, policy_lock
from baton.config import app_config, load_app
from baton.settings import ENV_AGENT, ENV_CATALOG, ENV_WORKFLOW_CATALOGS

# never in an asset: CDK, the offline engine, test helpers, the scaffold, the CLI, the synthesis-time action check
BATON_NEVER_SHIPPED = frozenset(
    {
        "infra",
        "local",
        "testing",
        "scaffold",
        "cli.py",
        "__main__.py",
        "iam_actions.py",
        "validate.py",
        "graph.py",
        "verification.py",
        "inventory.py",
        "permissions.py",
        "iam_eval.py",
    }
)
OFFLINE = "offline"
MAX_UNZIPPED_BYTES = 15_000_000
DIST_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$")


@dataclass(frozen=True)
class Asset:
    path: Path
    kind: str  # agent, orchestrator, api, ...: baton.functions.<kind>.handler.handler
    serves_app: bool  # its BATON_CATALOG or BATON_WORKFLOW_CATALOGS names the app's catalog(s) (the archiver: none)
    policy_engine: bool = False  # the function serves an agent under tool-call policies: it ships the Cedar engine


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> list[Asset]:
    """The asset of every Lambda function, from one synthesis with bundling on."""
    from aws_cdk import App

    from baton.infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out-bundled")
    app, stack = build_app(App(context={"baton:bundle": "true"}, outdir=str(outdir)))
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    catalog = load_app(app_config()).catalog
    found: set[Asset] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        key = properties["Code"]["S3Key"].removesuffix(".zip")
        variables = properties.get("Environment", {}).get("Variables", {})
        kind = properties["Handler"].split(".")[2]
        agent = catalog.agents.get(variables.get(ENV_AGENT, ""))
        engine = agent is not None and agent.policies is not None
        serves_app = bool(variables.get(ENV_CATALOG) or variables.get(ENV_WORKFLOW_CATALOGS))
        found.add(Asset(outdir / f"asset.{key}", kind, serves_app, engine))
    assert {asset.kind for asset in found} == set(KINDS)
    assert {asset.policy_engine for asset in found} == {True, False}  # the refund app has agents under policies
    return sorted(found, key=lambda asset: asset.path)


def _walk(root: Path) -> list[Path]:
    # os.walk follows the repository's links (baton/functions -> functions/)
    return sorted(Path(top, name) for top, _, names in os.walk(root, followlinks=True) for name in names)


def _cache(relative: Path) -> bool:
    return "__pycache__" in relative.parts or relative.suffix in {".pyc", ".pyo"}


def baton_sources(kind: str) -> dict[str, Path]:
    spec = importlib.util.find_spec("baton")
    assert spec is not None
    assert spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    allowed: dict[str, Path] = {}
    for path in _walk(root):
        parts = path.relative_to(root).parts
        other_kind = parts[0] == "functions" and len(parts) > 2 and parts[1] != kind
        if parts[0] in BATON_NEVER_SHIPPED or other_kind or _cache(path.relative_to(root)):
            continue
        allowed[Path("baton", *parts).as_posix()] = path
    return allowed


def app_sources() -> dict[str, Path]:
    loaded = load_app(app_config())
    fixtures = {w.offline_fixture.partition(":")[0] for w in loaded.catalog.workflows.values() if w.offline_fixture}
    allowed: dict[str, Path] = {}
    for package in sorted({path.split(".")[0] for path in loaded.config.catalogs}):
        spec = importlib.util.find_spec(package)
        assert spec is not None, package
        assert spec.submodule_search_locations, package
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in _walk(root):
            relative = Path(package) / path.relative_to(root)
            module = ".".join(relative.with_suffix("").parts)
            if OFFLINE in relative.parts or relative.stem == OFFLINE or module in fixtures or _cache(relative):
                continue
            allowed[relative.as_posix()] = path
    return allowed


def third_party_records(asset: Path, policy_engine: bool = False) -> dict[str, str]:
    """Path -> "sha256=..." (or "" for RECORD itself) of every file of every distribution the Lambda lock pins (and,
    with `policy_engine`, the policy lock)."""
    locked = locked_versions(lambda_lock().read_text())
    if policy_engine:
        locked |= locked_versions(policy_lock().read_text())
    installed = {}
    for entry in asset.iterdir():
        match = DIST_INFO.match(entry.name)
        if match and locked.get(normalize(match["name"])) == match["version"]:
            installed[normalize(match["name"])] = entry
    assert set(installed) == set(locked), f"locked but not in the asset: {sorted(set(locked) - set(installed))}"
    records: dict[str, str] = {}
    for dist_info in installed.values():
        for row in csv.reader((dist_info / "RECORD").read_text().splitlines()):
            records[row[0]] = row[1]
    return records


def _record_digest(path: Path) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def asset_violations(asset: Path, kind: str, serves_app: bool = True, policy_engine: bool = False) -> list[str]:
    """Every file of the asset that the allowlist does not hold, or whose content is not what it should be."""
    sources = baton_sources(kind) | (app_sources() if serves_app else {})
    records = third_party_records(asset, policy_engine)
    problems: list[str] = []
    for path in sorted(p for p in asset.rglob("*") if not p.is_dir()):
        name = path.relative_to(asset).as_posix()
        if name in sources:
            if path.read_bytes() != sources[name].read_bytes():
                problems.append(f"{name}: differs from {sources[name]}")
        elif name in records:
            if records[name] and _record_digest(path) != records[name]:
                problems.append(f"{name}: does not match the hash its RECORD lists")
        else:
            problems.append(f"{name}: not on the allowlist")
    return problems


def test_every_file_of_every_asset_is_on_the_allowlist(assets: list[Asset]) -> None:
    for asset in assets:
        assert asset_violations(asset.path, asset.kind, asset.serves_app, asset.policy_engine) == [], asset
        # and the asset is a working function: its handler, Baton's runtime, the app's catalog if it serves one
        assert (asset.path / "baton" / "functions" / asset.kind / "handler.py").is_file()
        assert (asset.path / "baton" / "runtime.py").is_file()
        # (each function ships the app packages of the catalog it serves: refund_app, or compliance_review_app, ...)
        assert any(asset.path.glob("*_app/catalog.py")) == asset.serves_app


def test_no_asset_ships_offline_code_cdk_code_or_seed_data(assets: list[Asset]) -> None:
    for asset in assets:
        names = {p.relative_to(asset.path).as_posix() for p in asset.path.rglob("*")}
        assert not {"baton/infra", "baton/local", "baton/cli.py", "baton/iam_actions.py"} & names
        assert not any(OFFLINE in Path(n).parts or Path(n).stem == OFFLINE for n in names)
        assert not any(n.endswith(".json") and n.split("/", 1)[0].endswith("_app") for n in names)
        assert not any(n.startswith(("boto3/", "botocore/", "policy_sentry/", "moto/")) for n in names)


def test_a_planted_file_fails_the_check(assets: list[Asset], tmp_path: Path) -> None:
    # Given a copy of an agent asset with an offline module, offline seed data, the offline engine, a file no
    # wheel installed, and a distribution file whose content was changed
    copy = tmp_path / "asset"
    agent = (a for a in assets if a.kind == "agent" and not a.policy_engine and (a.path / "refund_app").is_dir())
    shutil.copytree(next(agent).path, copy)
    (copy / "refund_app" / "offline.py").write_text("SEED = {}\n")
    (copy / "refund_app" / "offline").mkdir()
    (copy / "refund_app" / "offline" / "orders.json").write_text("{}\n")
    (copy / "baton" / "local").mkdir()
    (copy / "baton" / "local" / "engine.py").write_text("")
    (copy / "pydantic" / "extra.py").write_text("")
    changed = copy / "wrapt" / "__init__.py"
    changed.write_text(changed.read_text() + "\n# changed\n")
    # Then the check names each of them, and nothing else
    assert sorted(asset_violations(copy, "agent")) == [
        "baton/local/engine.py: not on the allowlist",
        "pydantic/extra.py: not on the allowlist",
        "refund_app/offline.py: not on the allowlist",
        "refund_app/offline/orders.json: not on the allowlist",
        "wrapt/__init__.py: does not match the hash its RECORD lists",
    ]


def test_every_asset_is_within_the_size_goal(assets: list[Asset]) -> None:
    # boto3 comes with the Lambda runtime (docs/deploy.md, "Supply chain"): the asset stays under 15 MB unzipped,
    # but for the Cedar engine the function of an agent under tool-call policies ships (about 15 MB on its own:
    # such an asset is over the goal by exactly the engine, and no other function ships it)
    for asset in assets:
        size = sum(p.stat().st_size for p in asset.path.rglob("*") if p.is_file())
        engine = 0
        if asset.policy_engine:
            records = third_party_records(asset.path, policy_engine=True).keys() - third_party_records(asset.path)
            engine = sum((asset.path / name).stat().st_size for name in records)
            assert engine > 0
        assert size - engine <= MAX_UNZIPPED_BYTES, (asset, size, engine)


def test_only_the_functions_of_agents_under_policies_ship_the_policy_engine(assets: list[Asset]) -> None:
    for asset in assets:
        assert (asset.path / "cedarpy").is_dir() == asset.policy_engine, asset
        # and an agent under policies (refund's payment_reversal, compliance-review's publishing) finds its policy
        # file in its asset
        if asset.policy_engine:
            assert any(asset.path.glob("*_app/policies.cedar")), asset
