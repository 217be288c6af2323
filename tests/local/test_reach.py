"""`baton run` deploys what the run may reach (baton.local.reach): the workflow, its children, the workflows its events
may trigger, a peer's workflow served in the same engine; never the rest of the app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.catalog import CatalogError
from baton.cli import main
from baton.config import LoadedApp, app_config, load_app
from baton.local.engine import LocalEngine
from baton.local.reach import reach, reachable
from baton.runs import InvalidRunInput

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
