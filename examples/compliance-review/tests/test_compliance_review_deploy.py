"""The compliance-review app's synthesized template, deployed into moto's CloudFormation, and its example paths run
through the deployed api function (baton.testing.cloudformation: the moto gaps it bridges are in its docstring).

What this proves beyond the offline engine's tests (test_compliance_review_paths.py): the wiring CDK produced for
this app (environment variables, table names and ARNs, the state machine's substitutions) connects its functions,
and the app's offline fixture seeds the deployed document table as it seeds the offline engine's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baton.testing.cloudformation import Deployment, deploy, synthesize
from compliance_review_app.names import REPORTS

EXAMPLES = Path(__file__).resolve().parents[1]
WORKFLOW = "compliance-review"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    synthesized = synthesize("compliance_review_app.catalog:CATALOG", tmp_path_factory.mktemp("compliance.cdk.out"))
    with deploy(synthesized) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def runs(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The example paths that end without a person, posted to the deployed api function (GET /runs/{run_id} once
    each ended). The default path waits for a sign-off: its approval is proven offline
    (test_compliance_review_paths.py) and the approval wiring on a deployment in tests/local/test_approvals.py."""
    examples = ("no-personal-data", "unknown-document")
    return {name: deployment.run(WORKFLOW, json.loads((EXAMPLES / f"{name}.json").read_text())) for name in examples}


def test_the_deployed_wiring_runs_every_compliance_review_path(
    deployment: Deployment, runs: dict[str, dict[str, Any]]
) -> None:
    # Given the stack as CloudFormation created it / When each example is posted to the deployed api function
    clean, unknown = runs["no-personal-data"], runs["unknown-document"]
    # Then each ends as it does in the offline engine
    assert clean["status"] == "SUCCEEDED"
    assert [s["agent"] for s in sorted(clean["steps"], key=lambda s: (s["stage"], s["index"]))] == [
        "extraction",
        "classification",
        "reporting",
        "publishing",
    ]
    assert clean["result"]["redacted_section"] is False
    assert unknown["status"] == "FAILED"
    # and the reports table of the deployed stack holds exactly the one published report
    items = deployment.clients.client("dynamodb").scan(TableName=deployment.physical_ids[REPORTS])["Items"]
    assert [i["report_id"]["S"] for i in items] == [clean["result"]["report_id"]]


def test_the_paths_ran_every_deployed_function(deployment: Deployment, runs: dict[str, dict[str, Any]]) -> None:
    # every agent in its own function, the orchestrator, the api, and the archiver on the state table's stream
    assert set(deployment.invocations) == set(deployment.functions)
    assert {deployment.function(agent=a) for a in deployment.catalog.workflow(WORKFLOW).agents} <= set(
        deployment.invocations
    )
