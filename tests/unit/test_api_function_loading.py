"""The API function loads the catalog of the workflow a request names, not every catalog of the app it serves."""

from __future__ import annotations

import json
import re

import boto3
import pytest

import baton.config
from baton.aws import AwsClients
from baton.catalog import CatalogError
from baton.config import WorkflowDirectory
from baton.runtime import build_api
from baton.settings import ENV_STATE_TABLE, ENV_WORKFLOW_CATALOGS, SettingsError
from tests.unit.fresh_process import modules_after

REFUND_CATALOG = "refund_app.catalog:CATALOG"
SUPPORT_CATALOG = "support_triage_app.catalog:CATALOG"
SOURCES = {"refund": REFUND_CATALOG, "support-triage": SUPPORT_CATALOG}


def modules_after_looking_up(workflow: str) -> set[str]:
    """The modules a fresh process holds once its API function has looked `workflow` up (as a start request does)."""
    env = {ENV_STATE_TABLE: "state", ENV_WORKFLOW_CATALOGS: json.dumps(SOURCES)}
    return modules_after(
        "import boto3\n"
        "from baton.aws import AwsClients\n"
        "from baton.runtime import build_api\n"
        f"services = build_api({env!r}, AwsClients(boto3.Session(region_name='us-east-1')))\n"
        f"assert services.workflows.get({workflow!r}) is not None"
    )


def test_a_request_for_one_workflow_loads_only_the_catalog_declaring_it() -> None:
    # Given an API serving the refund and support-triage workflows, each declared by its own app's catalog
    # When a fresh API function looks up refund, as a request starting a refund run does
    loaded = modules_after_looking_up("refund")
    # Then refund's catalog is loaded, and the other app's catalog never is
    assert "refund_app.catalog" in loaded
    assert "support_triage_app.catalog" not in loaded


def test_a_workflow_the_directory_does_not_list_is_no_workflow_and_loads_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a directory of one workflow, and every catalog load recorded
    loaded: list[str] = []
    monkeypatch.setattr(baton.config, "load_catalog", loaded.append)
    workflows = WorkflowDirectory({"ghost": "no_such_app.catalog:CATALOG"})
    # When a request names a workflow it does not list, Then there is no such workflow (the API answers 404)
    assert workflows.get("refund") is None
    assert "refund" not in workflows
    # and no catalog was loaded to find that out
    assert loaded == []


def test_a_catalog_that_does_not_declare_the_workflow_it_is_listed_for_is_refused() -> None:
    # Given a deployment whose configuration says the refund catalog declares support-triage (it does not)
    workflows = WorkflowDirectory({"support-triage": REFUND_CATALOG})
    # When that workflow is looked up, Then the function refuses, naming both, rather than serving another workflow
    with pytest.raises(CatalogError, match="declares no workflow 'support-triage'"):
        workflows.get("support-triage")


def test_an_entry_naming_a_catalog_that_cannot_be_loaded_is_refused() -> None:
    # Given an entry naming a module that does not exist
    workflows = WorkflowDirectory({"ghost": "no_such_app.catalog:CATALOG"})
    # When it is looked up, Then loading fails with the path named
    with pytest.raises(CatalogError, match=re.escape("cannot load catalog 'no_such_app.catalog:CATALOG'")):
        workflows.get("ghost")


def test_the_directory_lists_its_workflows_without_loading_them() -> None:
    # Given a directory of two workflows
    workflows = WorkflowDirectory(SOURCES)
    # When it is listed, Then both names are there, in the order declared
    assert list(workflows) == ["refund", "support-triage"]
    assert len(workflows) == 2


def test_an_api_function_without_its_workflow_catalogs_refuses_to_start() -> None:
    # Given an API function deployed without BATON_WORKFLOW_CATALOGS
    env = {ENV_STATE_TABLE: "state"}
    # When its services are built, Then it refuses at start, naming the variable
    with pytest.raises(SettingsError, match=ENV_WORKFLOW_CATALOGS):
        build_api(env, AwsClients(boto3.Session(region_name="us-east-1")))
