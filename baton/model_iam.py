"""IAM for calling a Bedrock model: what a role needs to converse with one `ModelSpec`, and nothing else.

Converse is authorised as `bedrock:InvokeModel` on the model it names:
- a foundation model id: that model, in the stack's region;
- a cross-region inference profile id ("us.anthropic..."): the profile (in the stack's region and account) and the
  foundation model it routes to, in each of the spec's `profile_regions` (Bedrock checks both);
and, with a guardrail, `bedrock:ApplyGuardrail` on that guardrail only. A workflow whose injection detector is a
guardrail (`WorkflowSpec.injection_detector`) gives its orchestrator `bedrock:ApplyGuardrail` on that guardrail only.

The ARNs are references (`PlatformRef`, kinds below) that the CDK app resolves like Baton's other platform resources
(`model_arn` builds each ARN from its kind and name, for any resolver: CDK tokens are strings too). The same
statements serve an orchestrator whose workflow has a `planner_model` and a model-backed agent's role.

The reference kinds (values of `baton.iam.Platform`):
  bedrock_foundation_model   name: "<model id>" (the stack's region) or "<region>/<model id>"
                             -> arn:<partition>:bedrock:<region>::foundation-model/<model id>
  bedrock_inference_profile  name: "<profile id>"
                             -> arn:<partition>:bedrock:<region>:<account>:inference-profile/<profile id>
  bedrock_guardrail          name: "<guardrail id>"
                             -> arn:<partition>:bedrock:<region>:<account>:guardrail/<guardrail id>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton.catalog import InjectionGuardrail, ModelSpec, WorkflowSpec

if TYPE_CHECKING:
    from baton.iam import PlatformRef, StatementSpec

FOUNDATION_MODEL = "bedrock_foundation_model"
INFERENCE_PROFILE = "bedrock_inference_profile"
GUARDRAIL = "bedrock_guardrail"
MODEL_REF_KINDS = (FOUNDATION_MODEL, INFERENCE_PROFILE, GUARDRAIL)
INVOKE_MODEL = "bedrock:InvokeModel"
APPLY_GUARDRAIL = "bedrock:ApplyGuardrail"


def model_refs(spec: ModelSpec) -> tuple[tuple[str, str], ...]:
    """The (kind, name) of every resource `bedrock:InvokeModel` must name for `spec`."""
    if not spec.inference_profile:
        return ((FOUNDATION_MODEL, spec.model_id),)
    destinations = tuple((FOUNDATION_MODEL, f"{region}/{spec.foundation_model}") for region in spec.profile_regions)
    return ((INFERENCE_PROFILE, spec.model_id), *destinations)


def model_statements(spec: ModelSpec, sid_prefix: str) -> tuple[StatementSpec, ...]:
    """The statements a role needs to converse with `spec` (Sids `<prefix>InvokeModel`, `<prefix>ApplyGuardrail`)."""
    from baton.iam import StatementSpec  # baton.iam calls this: imported when called, in either import order

    statements = [
        StatementSpec(
            sid=f"{sid_prefix}InvokeModel",
            actions=(INVOKE_MODEL,),
            resources=tuple(_ref(kind, name) for kind, name in model_refs(spec)),
        )
    ]
    if spec.guardrail_id is not None:
        statements.append(
            StatementSpec(
                sid=f"{sid_prefix}ApplyGuardrail",
                actions=(APPLY_GUARDRAIL,),
                resources=(_ref(GUARDRAIL, spec.guardrail_id),),
            )
        )
    return tuple(statements)


def detector_statements(workflow: WorkflowSpec) -> tuple[StatementSpec, ...]:
    """What the orchestrator of `workflow` needs for its injection detector: bedrock:ApplyGuardrail on the declared
    guardrail only (Sid `DetectorApplyGuardrail`); nothing for the built-in detector or none."""
    from baton.iam import StatementSpec

    detector = workflow.injection_detector
    if not isinstance(detector, InjectionGuardrail):
        return ()
    return (
        StatementSpec(
            sid="DetectorApplyGuardrail",
            actions=(APPLY_GUARDRAIL,),
            resources=(_ref(GUARDRAIL, detector.guardrail_id),),
        ),
    )


def _ref(kind: str, name: str) -> PlatformRef:
    from baton.iam import Platform, PlatformRef

    try:
        platform = Platform(kind)
    except ValueError:
        raise NotImplementedError(f"baton.iam.Platform has no kind {kind!r} yet (see baton.model_iam)") from None
    return PlatformRef(kind=platform, name=name)


def model_arn(kind: str, name: str, *, partition: str, region: str, account: str) -> str:
    """The ARN a model reference stands for, in the stack's `region` and `account` (see the module's table)."""
    if kind == FOUNDATION_MODEL:
        where, _, model_id = name.rpartition("/")
        return f"arn:{partition}:bedrock:{where or region}::foundation-model/{model_id}"
    if kind == INFERENCE_PROFILE:
        return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{name}"
    if kind == GUARDRAIL:
        return f"arn:{partition}:bedrock:{region}:{account}:guardrail/{name}"
    raise ValueError(f"{kind!r} is not a model reference kind")
