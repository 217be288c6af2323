"""The support-triage app's synthesized template: Bedrock access exactly as its catalog declares it.

The planner's model is a cross-region inference profile (three regions); the FAQ agent's a foundation model.
Only the workflow's orchestrator role (its planner runs there) and the FAQ agent's role may invoke a model, each
exactly its own model's ARNs; the refund agents reused here, the hand-off agent and the API hold no bedrock action.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.cli import workflows_document
from baton.testing.cloudformation import Synthesized, synthesize
from support_triage_app.catalog import CATALOG, FAQ_MODEL, PLANNER_MODEL, WORKFLOW

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize("support_triage_app.catalog:CATALOG", Path(tmp_path_factory.mktemp("support-triage.cdk.out")))


def concrete(value: Any) -> Any:
    """An ARN of the template, its pseudo parameters filled in (the Bedrock ARNs name no other token)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return PSEUDO[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(concrete(part)) for part in parts)
    return value


def bedrock_grants(synthesized: Synthesized) -> dict[str, dict[str, set[str]]]:
    """For each role holding a bedrock action: its description, and each action's resources."""
    grants: dict[str, dict[str, set[str]]] = {}
    for role in synthesized.resources("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions, resources = (_listed(statement[part]) for part in ("Action", "Resource"))
                for action in actions:
                    if action.lower().startswith("bedrock:"):
                        held = grants.setdefault(role["Properties"]["Description"], {})
                        held.setdefault(action, set()).update(concrete(r) for r in resources)
    return grants


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_bedrock_is_granted_on_exactly_the_declared_models(synthesized: Synthesized) -> None:
    # Given the app synthesized as `cdk synth` would / When its roles' bedrock statements are read
    grants = bedrock_grants(synthesized)
    # Then the orchestrator of support-triage may invoke the planner's inference profile (this stack's region and
    # account) and the foundation model it routes to in each of its three regions, and nothing else
    planner = grants.pop("Baton orchestrator support-triage: statements derived from the catalog")
    foundation = PLANNER_MODEL.foundation_model
    assert planner == {
        "bedrock:InvokeModel": {
            f"arn:aws:bedrock:eu-west-1:111122223333:inference-profile/{PLANNER_MODEL.model_id}",
            *(f"arn:aws:bedrock:{region}::foundation-model/{foundation}" for region in PLANNER_MODEL.profile_regions),
        }
    }
    # and the FAQ agent its one foundation model, in the stack's region
    faq = grants.pop("Baton agent faq: statements derived from the catalog")
    assert faq == {"bedrock:InvokeModel": {f"arn:aws:bedrock:eu-west-1::foundation-model/{FAQ_MODEL.model_id}"}}
    # and no other role holds any bedrock action
    assert grants == {}


def test_baton_workflows_names_each_model_and_the_budgets() -> None:
    # Given the app's catalog / When `baton workflows --json` describes it
    (workflow,) = workflows_document(CATALOG)["workflows"]
    # Then the planner's model and the FAQ agent's are named, the coded agents have none, and the budgets show
    assert workflow["planner_model"] == PLANNER_MODEL.model_id
    assert {a["name"]: a["model"] for a in workflow["agents"]} == {
        "order_lookup": None,
        "return_policy": None,
        "payment_reversal": None,
        "customer_notifier": None,
        "faq": FAQ_MODEL.model_id,
        "handoff": None,
    }
    assert workflow["budgets"]["max_input_tokens"] == WORKFLOW.budgets.max_input_tokens
