"""`baton run` deploys what the run may reach (baton.local.reach): the workflow, its children, the workflows its events
may trigger, a peer's workflow served in the same engine; never the rest of the app."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from baton.catalog import CatalogError
from baton.cli import main
from baton.config import AppConfig, LoadedApp, app_config, load_app
from baton.local.engine import LocalEngine
from baton.local.reach import load_reach, reach, reachable
from baton.runs import InvalidRunInput
from tests.unit.fresh_process import modules_after

ROOT = Path(__file__).resolve().parents[2]
# the repository root's app: every example app's catalog, merged
ROOT_APP = app_config(cwd=ROOT, env={})


@pytest.fixture(scope="module")
def app() -> LoadedApp:
    return load_app(ROOT_APP)


def test_a_plain_workflow_reaches_itself_alone(app: LoadedApp) -> None:
    # Given the root app, whose refund workflow has no children, publishes no event and calls no peer
    # When its reach is computed / Then it is refund alone
    assert reachable(app.catalog, "refund") == ("refund",)
    # and the reached catalog holds refund's agents, their tools, the resources these name and the queue refund's
    # approvers are told through, nothing else
    catalog = reach(app, "refund").catalog
    refund = app.catalog.workflows["refund"]
    agents = set(refund.agents)
    tools = {tool for agent in agents for tool in app.catalog.agents[agent].tools}
    assert (set(catalog.workflows), set(catalog.agents), set(catalog.tools)) == ({"refund"}, agents, tools)
    named = {ref.name for tool in tools for ref in app.catalog.tools[tool].resource_refs()}
    assert refund.approvals is not None
    assert refund.approvals.notify is not None
    assert set(catalog.resources) == named | {refund.approvals.notify.name} < set(app.catalog.resources)


def test_a_workflow_reaches_its_children(app: LoadedApp) -> None:
    # Given it-ops, which delegates to three child workflows / When its reach is computed / Then they are in it
    assert set(reachable(app.catalog, "it-ops")) == {
        "it-ops",
        "network-incident",
        "identity-incident",
        "application-incident",
    }
    # and a child alone reaches only itself
    assert reachable(app.catalog, "network-incident") == ("network-incident",)


def test_a_workflow_whose_agent_publishes_events_reaches_every_triggered_workflow(app: LoadedApp) -> None:
    # Given security-alerting, whose detection agent publishes on the findings bus
    # When its reach is computed / Then both subscribers are in it
    subscribers = ("alert-enrichment", "alert-notification")
    assert reachable(app.catalog, "security-alerting") == ("security-alerting", *subscribers)
    # and a subscriber that publishes nothing reaches itself alone
    assert reachable(app.catalog, "alert-enrichment") == ("alert-enrichment",)


def test_a_federated_workflow_reaches_the_peer_workflow_served_in_the_same_engine(app: LoadedApp) -> None:
    # Given cross-bu-reporting, whose peer tool starts BU A's sales-summary, declared in the same app
    # When its reach is computed / Then sales-summary is in it; the provider alone reaches only itself
    assert reachable(app.catalog, "cross-bu-reporting") == ("sales-summary", "cross-bu-reporting")
    assert reachable(app.catalog, "sales-summary") == ("sales-summary",)


def test_a_subset_leaving_out_a_child_is_refused(app: LoadedApp) -> None:
    # Given it-ops without its children / When the catalog is restricted to it / Then the catalog check says why
    with pytest.raises(CatalogError, match="declares unknown child workflow"):
        app.catalog.restricted(["it-ops"])


def test_an_engine_of_the_reach_deploys_and_serves_nothing_else(app: LoadedApp) -> None:
    # Given an engine of refund's reach
    with LocalEngine(reach(app, "refund")) as engine:
        # Then refund alone has a state machine, and only its functions exist
        assert set(engine.state_machines) == {"refund"}
        assert not any("it-ops" in name or "security" in name for name in engine.deployment.functions)
        # and the API serves refund's catalog alone: another workflow of the app is unknown there
        with pytest.raises(InvalidRunInput, match="unknown workflow 'it-ops'"):
            engine.start("it-ops", json.loads((ROOT / "examples" / "it-ops" / "default.json").read_text()))


def _declared(app: LoadedApp) -> tuple[set[str], ...]:
    catalog = app.catalog
    return set(catalog.workflows), set(catalog.agents), set(catalog.tools), set(catalog.resources)


def test_loading_what_a_run_reaches_deploys_what_loading_the_whole_app_deploys(app: LoadedApp) -> None:
    # Given every workflow of the root app
    for workflow in app.catalog.workflows:
        # When the catalogs its run may reach into are loaded, and restricted to its reach
        loaded = load_reach(ROOT_APP, workflow)
        # Then it deploys exactly what the whole app restricted to its reach deploys
        assert _declared(reach(loaded, workflow)) == _declared(reach(app, workflow)), workflow


@pytest.mark.parametrize(
    ("workflow", "catalogs"),
    [
        # its reach stays in its own catalog: that catalog alone, whichever it is in the app's order
        ("refund", ["refund_app.catalog:CATALOG"]),
        ("it-ops", ["it_ops_app.catalog:CATALOG"]),  # its children are declared beside it
        ("cross-bu-reporting", ["cross_bu_reporting_app.catalog:CATALOG"]),  # so is its peer's workflow
        # an agent of it publishes events, which a workflow of any catalog may be triggered by: all of them
        ("security-alerting", list(ROOT_APP.catalogs)),
        # unknown: all of them, so that the error names every workflow
        ("no-such-workflow", list(ROOT_APP.catalogs)),
    ],
)
def test_a_run_loads_the_catalog_declaring_its_workflow_alone_when_its_reach_stays_there(
    workflow: str, catalogs: list[str]
) -> None:
    # Given the root app / When the catalogs a run of the workflow may reach into are loaded / Then they are these
    assert [path for path, _ in load_reach(ROOT_APP, workflow).parts] == catalogs


def test_a_peer_declared_in_another_catalog_of_the_app_loads_every_catalog() -> None:
    # Given an app of BU B's catalog, then BU A's, which declares the workflow B's peer tool starts
    config = AppConfig(("cross_bu_reporting_app.catalog:BU_B_CATALOG", "cross_bu_reporting_app.catalog:BU_A_CATALOG"))
    # When a run of B's workflow is loaded / Then both catalogs are, and the peer's workflow is served beside it
    loaded = load_reach(config, "cross-bu-reporting")
    assert [path for path, _ in loaded.parts] == list(config.catalogs)
    assert set(reachable(loaded.catalog, "cross-bu-reporting")) == {"sales-summary", "cross-bu-reporting"}
    assert _declared(reach(loaded, "cross-bu-reporting")) == _declared(reach(load_app(config), "cross-bu-reporting"))


def test_the_catalogs_of_an_app_outside_the_path_are_imported_from_its_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an app whose package sits in its own directory, not on the import path (as `baton init` makes one)
    monkeypatch.setattr(sys, "path", list(sys.path))
    package = tmp_path / "outside_root_app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "catalog.py").write_text("from refund_app.catalog import CATALOG as CATALOG\n")
    config = AppConfig(("outside_root_app.catalog:CATALOG",), root=tmp_path)
    # When what a run of refund may reach is loaded / Then the app's catalog was imported from its root
    loaded = load_reach(config, "refund")
    assert [path for path, _ in loaded.parts] == ["outside_root_app.catalog:CATALOG"]
    assert "refund" in loaded.catalog.workflows


def test_a_run_of_refund_imports_no_other_app_s_catalog() -> None:
    # Given a fresh process / When it loads what a run of refund from the root app may reach
    loaded = modules_after(
        "from baton.config import app_config\n"
        "from baton.local.reach import load_reach\n"
        f"load_reach(app_config(cwd=__import__('pathlib').Path({str(ROOT)!r}), env={{}}), 'refund')"
    )
    # Then refund's catalog is imported, and no other example app's
    assert "refund_app.catalog" in loaded
    others = {name.split(".")[0] for name in loaded if name.endswith("_app.catalog")} - {"refund_app"}
    assert others == set()


@pytest.mark.parametrize(
    ("workflow", "triggered"),
    [("it-ops", []), ("security-alerting", ["alert-enrichment", "alert-notification"]), ("cross-bu-reporting", [])],
)
def test_baton_run_of_the_root_app_succeeds_with_what_the_run_reaches(
    workflow: str,
    triggered: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the root app's catalog / When `baton run <workflow> --json` runs its example
    monkeypatch.chdir(tmp_path)
    example = ROOT / "examples" / workflow / "default.json"
    code = main(["--catalog", ROOT_APP.env_value, "run", workflow, "--input", str(example), "--json"])
    # Then the run and every run its events started succeeded
    document = json.loads(capsys.readouterr().out)
    assert (code, document["status"]) == (0, "SUCCEEDED")
    assert sorted(run["workflow"] for run in document["triggered_runs"]) == triggered
    assert all(run["status"] == "SUCCEEDED" for run in document["triggered_runs"])
