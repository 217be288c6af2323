"""IAM for model-backed agents, in the synthesized template and deployed into moto's CloudFormation.

The catalog is the test app with its model-backed agents (tests.testapp.catalog:MODEL_CATALOG): the `summarizer`
on one foundation model, the `assistant` on a cross-region inference profile routing to two regions, with a
guardrail. What is proven: each one's role grants bedrock:InvokeModel on exactly its declared model's ARNs (the
foundation model in the stack's region; the profile in the stack's region and account and the foundation model in
each of its regions) and bedrock:ApplyGuardrail on its guardrail only; no other role holds any bedrock action;
every role still equals its derivation; cdk-nag reports nothing; and, deployed, the model-backed workflows run
through the deployed wiring (a model double answering Converse) with every call their functions made, Converse
included, allowed by their roles as deployed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from baton.catalog import ModelSpec
from baton.iam import PlatformRef, Ref, RoleSpec, all_roles, render_statement
from baton.local.model_doubles import RuleModel, attach_to_session
from baton.model_iam import MODEL_REF_KINDS, model_arn
from baton.testing.cloudformation import ACCOUNT, REGION, Deployment, Synthesized, deploy, synthesize
from tests.infra.helpers import (
    concrete,
    derived_roles,
    normalized,
    resolver,
    role_statements,
    sort_key,
    template_role,
)
from tests.infra.iam_eval import Request
from tests.infra.test_moto_deploy import Judge, denied_calls
from tests.testapp.catalog import ASSISTANT_MODEL, MODEL_CATALOG, SUMMARIZER_MODEL
from tests.testapp.offline import assist_rule, prepare, summarize_rule

MODEL_APP = "tests.testapp.catalog:MODEL_CATALOG"
MODELS = {"summarizer": SUMMARIZER_MODEL, "assistant": ASSISTANT_MODEL}
PROFILE = ASSISTANT_MODEL.model_id
FOUNDATION = ASSISTANT_MODEL.foundation_model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The test app with its model-backed agents, synthesized as `cdk synth` would (cdk-nag runs during synthesis)."""
    return synthesize(MODEL_APP, tmp_path_factory.mktemp("cdk.out.models"))


def bedrock_statements(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    """The role's statements holding a bedrock action, with their ARNs made concrete (us-east-1, 123456789012)."""
    template = synthesized.template
    statements = role_statements(template["Resources"][role_id])
    return [concrete(template, s) for s in statements if any(a.startswith("bedrock:") for a in s["Action"])]


def test_a_model_backed_agent_may_invoke_exactly_its_declared_models_arns(models: Synthesized) -> None:
    roles = {spec.name: role_id for spec, role_id in derived_roles(models) if spec.component.value == "agent"}
    # the summarizer's foundation model, in the stack's region
    (invoke,) = bedrock_statements(models, roles["summarizer"])
    assert invoke["Action"] == ["bedrock:InvokeModel"]
    assert invoke["Resource"] == [f"arn:aws:bedrock:{REGION}::foundation-model/{SUMMARIZER_MODEL.model_id}"]
    assert "Condition" not in invoke
    # the assistant's inference profile (the stack's region and account) and its foundation model in each of the
    # profile's regions; its guardrail, alone, for ApplyGuardrail
    by_sid = {s["Sid"]: s for s in bedrock_statements(models, roles["assistant"])}
    assert set(by_sid) == {"AgentInvokeModel", "AgentApplyGuardrail"}
    invoke, guardrail = by_sid["AgentInvokeModel"], by_sid["AgentApplyGuardrail"]
    assert invoke["Action"] == ["bedrock:InvokeModel"]
    assert sorted(invoke["Resource"]) == sorted(
        [
            f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{PROFILE}",
            f"arn:aws:bedrock:us-east-1::foundation-model/{FOUNDATION}",
            f"arn:aws:bedrock:us-west-2::foundation-model/{FOUNDATION}",
        ]
    )
    assert guardrail["Action"] == ["bedrock:ApplyGuardrail"]
    assert guardrail["Resource"] == [f"arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/{ASSISTANT_MODEL.guardrail_id}"]


def test_no_other_role_holds_any_bedrock_action(models: Synthesized) -> None:
    template = models.template
    holders = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        for statement in role_statements(resource)
        if any(str(action).lower().startswith("bedrock:") for action in statement["Action"])
    }
    roles = {spec.name: role_id for spec, role_id in derived_roles(models) if spec.component.value == "agent"}
    assert holders == {roles["summarizer"], roles["assistant"]}
    # and no statement anywhere names a bedrock resource with a wildcard
    for logical_id in holders:
        for statement in bedrock_statements(models, logical_id):
            assert all("*" not in arn for arn in statement["Resource"]), logical_id


def _resolver(synthesized: Synthesized, spec: RoleSpec) -> Any:
    """tests.infra.helpers' resolver (ARNs from the stack's constructs), and the Bedrock ARNs from the stack's
    partition, region and account (they name no construct)."""
    base = resolver(synthesized, spec)
    stack = synthesized.stack

    def resolve(ref: Ref) -> Any:
        if isinstance(ref, PlatformRef) and ref.kind.value in MODEL_REF_KINDS:
            return model_arn(
                ref.kind.value, ref.name, partition=stack.partition, region=stack.region, account=stack.account
            )
        return base(ref)

    return resolve


def test_every_role_still_equals_its_derivation(models: Synthesized) -> None:
    template = models.template
    for spec, role_id in derived_roles(models):
        resolve = _resolver(models, spec)
        expected = [normalized(models.resolve(render_statement(s, resolve))) for s in spec.statements]
        actual = role_statements(template["Resources"][role_id])
        assert sorted(actual, key=sort_key) == sorted(expected, key=sort_key), (spec.component, spec.name)
        assert template_role(template, spec) == role_id
    assert {spec.name for spec in all_roles(MODEL_CATALOG)} >= set(MODELS)


def test_cdk_nag_reports_nothing_on_the_model_backed_agents(models: Synthesized) -> None:
    report = json.loads((models.outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


# ---------------------------------------------------------------- deployed


def _requested_arn(spec: ModelSpec) -> str:
    """The first ARN Bedrock authorises a Converse call naming `spec.model_id` against."""
    if spec.inference_profile:
        return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{spec.model_id}"
    return f"arn:aws:bedrock:{REGION}::foundation-model/{spec.model_id}"


class _ByAgent:
    """The deployment's model double: each agent's RuleModel, found by the calling function's BATON_AGENT."""

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self._rules = {"summarizer": RuleModel(summarize_rule), "assistant": RuleModel(assist_rule)}

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        agent = self._deployment.functions[caller]["Environment"]["Variables"]["BATON_AGENT"]
        return self._rules[agent].converse(caller, request)


@pytest.fixture(scope="module")
def deployed(models: Synthesized) -> Iterator[Deployment]:
    # the model workflows' own fixture registers doubles on the offline engine, which this deployment is not: the
    # relay's fixture seeds it, and its session answers every function's Converse calls
    with deploy(models, run_fixtures=False) as deployment:
        prepare(deployment)
        attach_to_session(deployment.session, _ByAgent(deployment), lambda: str(Deployment.current_function()))
        yield deployment


def test_the_model_backed_workflows_run_deployed_and_every_call_is_allowed_by_the_deployed_roles(
    deployed: Deployment,
) -> None:
    # Given both model-backed workflows run through the deployed api function
    for workflow, answer in (("summarize", "summary"), ("assist", "answer")):
        run = deployed.run(workflow, {"item_id": "IT-1"})
        assert run["status"] == "SUCCEEDED", (workflow, run["reason"])
        assert answer in str(run["result"])
    calls = list(deployed.calls)
    converse = [c for c in calls if (c.service, c.operation) == ("bedrock-runtime", "Converse")]
    # Then each Converse call names its agent's model, which its role as deployed may invoke, and not the other's
    judge = Judge(deployed)
    assert {c.caller for c in converse} == {deployed.function(agent=name) for name in MODELS}
    for call in converse:
        agent = next(name for name in MODELS if deployed.function(agent=name) == call.caller)
        assert call.params["modelId"] == MODELS[agent].model_id
        assert judge.allowed(call.caller, Request("bedrock:InvokeModel", _requested_arn(MODELS[agent])))
        other = next(spec for name, spec in MODELS.items() if name != agent)
        assert not judge.allowed(call.caller, Request("bedrock:InvokeModel", _requested_arn(other)))
    # (with the profile, Bedrock also checks the foundation model in the region it routes to: each is granted)
    assistant = deployed.function(agent="assistant")
    for region in ASSISTANT_MODEL.profile_regions:
        arn = f"arn:aws:bedrock:{region}::foundation-model/{FOUNDATION}"
        assert judge.allowed(assistant, Request("bedrock:InvokeModel", arn))
    assert not judge.allowed(
        assistant, Request("bedrock:InvokeModel", f"arn:aws:bedrock:eu-west-1::foundation-model/{FOUNDATION}")
    )
    guardrail = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:guardrail/{ASSISTANT_MODEL.guardrail_id}"
    assert judge.allowed(assistant, Request("bedrock:ApplyGuardrail", guardrail))
    assert not judge.allowed(deployed.function(agent="summarizer"), Request("bedrock:ApplyGuardrail", guardrail))
    # and every other call they made is allowed by the deployed roles too
    assert denied_calls(judge, [c for c in calls if c not in converse]) == []
