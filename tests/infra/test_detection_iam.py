"""IAM for an injection detector on a Bedrock guardrail, in the synthesized template (CDK's Template assertions).

The catalog is the test app with its relay workflow declaring `injection_detector=InjectionGuardrail(...)` and its
fanout workflow the built-in detector. What is proven: the relay's orchestrator role, the function that calls
ApplyGuardrail, holds bedrock:ApplyGuardrail on exactly that guardrail's ARN (no wildcard), as baton.iam derives
it; no other role holds any bedrock action (the built-in detector needs none); cdk-nag reports nothing.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from baton.catalog import Catalog, InjectionGuardrail, build_catalog
from baton.iam import Component
from baton.testing.cloudformation import Synthesized, synthesize
from tests.infra.helpers import concrete, derived_roles, role_statements
from tests.testapp.catalog import CATALOG as TEST_CATALOG

GUARDRAIL = InjectionGuardrail(guardrail_id="gr0injection1", guardrail_version="2")
ARN = f"arn:aws:bedrock:us-east-1:123456789012:guardrail/{GUARDRAIL.guardrail_id}"
DETECTION_CATALOG: Catalog = build_catalog(
    resources=list(TEST_CATALOG.resources.values()),
    tools=list(TEST_CATALOG.tools.values()),
    agents=list(TEST_CATALOG.agents.values()),
    workflows=[
        TEST_CATALOG.workflows["relay"].model_copy(update={"injection_detector": GUARDRAIL}),
        TEST_CATALOG.workflows["fanout"].model_copy(update={"injection_detector": "builtin"}),
    ],
)


@pytest.fixture(scope="module")
def detection(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The detection catalog, synthesized as `cdk synth` would (cdk-nag runs during synthesis)."""
    return synthesize("tests.infra.test_detection_iam:DETECTION_CATALOG", tmp_path_factory.mktemp("cdk.out.detect"))


def test_the_guardrail_detectors_orchestrator_may_apply_exactly_that_guardrail(detection: Synthesized) -> None:
    # Given the synthesized template / Then a role holds the derived statement, on the guardrail's ARN alone
    template = Template.from_json(detection.template)
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "Policies": Match.array_with(
                [
                    Match.object_like(
                        {
                            "PolicyDocument": Match.object_like(
                                {
                                    "Statement": Match.array_with(
                                        [
                                            Match.object_like(
                                                {
                                                    "Sid": "DetectorApplyGuardrail",
                                                    "Effect": "Allow",
                                                    "Action": "bedrock:ApplyGuardrail",
                                                }
                                            )
                                        ]
                                    )
                                }
                            )
                        }
                    )
                ]
            )
        },
    )
    # and that role is the relay's orchestrator's, its resource the declared guardrail's ARN, with no wildcard
    roles = {(spec.component, spec.name): role_id for spec, role_id in derived_roles(detection)}
    holders = {
        role_id: [concrete(detection.template, s) for s in role_statements(resource) if _bedrock(s)]
        for role_id, resource in detection.resources("AWS::IAM::Role").items()
        if any(_bedrock(s) for s in role_statements(resource))
    }
    assert set(holders) == {roles[(Component.ORCHESTRATOR, "relay")]}
    (statement,) = holders[roles[(Component.ORCHESTRATOR, "relay")]]
    assert statement["Action"] == ["bedrock:ApplyGuardrail"]
    assert statement["Resource"] == [ARN]
    assert "Condition" not in statement


def _bedrock(statement: dict[str, object]) -> bool:
    return any(str(action).startswith("bedrock:") for action in statement["Action"])  # type: ignore[attr-defined]


def test_cdk_nag_reports_nothing_on_the_detector_roles(detection: Synthesized) -> None:
    report = json.loads((detection.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []
