"""The refund app's synthesized template, deployed into moto's CloudFormation, and its three example paths run
through the deployed api function (baton.testing.cloudformation: the moto gaps it bridges are in its docstring).

What this proves beyond the offline engine's tests (test_refund_paths.py): the wiring CDK produced for this app
(environment variables, ARNs, the state machine's substitutions, the API function's configuration) connects
its functions, and the app's offline fixture seeds the deployed stack as it seeds the offline engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from baton.testing.cloudformation import Deployment, deploy, synthesize
from refund_app.offline import FakePaymentProvider

EXAMPLES = Path(__file__).resolve().parents[1]
WORKFLOW = "refund"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    synthesized = synthesize("refund_app.catalog:CATALOG", tmp_path_factory.mktemp("refund.cdk.out"))
    with deploy(synthesized) as deployed:
        yield deployed


def run_example(deployment: Deployment, example: str) -> dict[str, Any]:
    return deployment.run(WORKFLOW, json.loads((EXAMPLES / f"{example}.json").read_text()))


@pytest.fixture(scope="module")
def runs(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The three example paths, posted to the deployed api function (GET /runs/{run_id} once each ended)."""
    return {example: run_example(deployment, example) for example in ("default", "window-expired", "provider-failing")}


def test_the_deployed_wiring_runs_every_refund_path(deployment: Deployment, runs: dict[str, dict[str, Any]]) -> None:
    # Given the stack as CloudFormation created it / When each example is posted to the deployed api function
    eligible, expired, failing = runs["default"], runs["window-expired"], runs["provider-failing"]
    # Then each ends as it does in the offline engine
    assert eligible["status"] == "SUCCEEDED"
    assert [s["agent"] for s in sorted(eligible["steps"], key=lambda s: (s["stage"], s["index"]))] == [
        "order_lookup",
        "return_policy",
        "payment_reversal",
        "customer_notifier",
    ]
    assert eligible["result"]["outcome"] == "refunded"
    assert expired["result"]["outcome"] == "denied"
    assert failing["result"]["outcome"] == "escalated"
    # and the payment provider refunded the eligible order once, and the failing one never
    provider = deployment.fixtures[WORKFLOW]
    assert isinstance(provider, FakePaymentProvider)
    assert len(provider.refunds_for("pay_1001")) == 1
    assert provider.refunds_for("pay_1003") == []


def test_the_three_paths_ran_every_deployed_function(deployment: Deployment, runs: dict[str, dict[str, Any]]) -> None:
    # every agent in its own function, the orchestrator, the api, and the archiver on the state table's stream
    assert set(deployment.invocations) == set(deployment.functions)
    assert {deployment.function(agent=a) for a in deployment.catalog.workflow(WORKFLOW).agents} <= set(
        deployment.invocations
    )
