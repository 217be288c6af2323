"""Reading IAM out of a synthesized template, and rendering what baton.iam derives for the same stack."""

from __future__ import annotations

from typing import Any

from baton.catalog import Catalog, ResourceKind, ResourceRef, build_catalog
from baton.iam import Component, Platform, PlatformRef, Ref, RoleSpec, all_roles, render_statement
from baton.testing.cloudformation import Synthesized
from tests.testapp.catalog import CATALOG as TEST_CATALOG

TEST_CATALOG_PATH = "tests.testapp.catalog:CATALOG"
EXTENDED_CATALOG_PATH = "tests.infra.helpers:EXTENDED_CATALOG"


def with_one_more_workflow(catalog: Catalog) -> Catalog:
    """The catalog plus a copy of its first workflow named "<first>-twin", on Express: a name that starts with
    another workflow's name (so IAM patterns of one must not cover the other's items), sharing its agents."""
    first = next(iter(catalog.workflows.values()))
    twin = first.model_copy(update={"name": f"{first.name}-twin", "execution": "express", "offline_fixture": None})
    return build_catalog(
        resources=list(catalog.resources.values()),
        tools=list(catalog.tools.values()),
        agents=list(catalog.agents.values()),
        workflows=[*catalog.workflows.values(), twin],
    )


EXTENDED_CATALOG = with_one_more_workflow(TEST_CATALOG)


# ---------------------------------------------------------------- the template


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def normalized(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement with Action and Resource always lists, in a canonical order."""
    result = dict(statement)
    for key in ("Action", "Resource", "NotAction", "NotResource"):
        if key in result:
            result[key] = sorted(as_list(result[key]), key=repr)
    return result


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        normalized(statement)
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def all_policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy and of every resource policy other than a KMS key policy
    (queue, topic and bucket policies), with its resource's logical id."""
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        for key in ("PolicyDocument", "ResourcePolicy"):
            if isinstance(properties.get(key), dict):
                documents.append(properties[key])
        for document in documents:
            found += [(logical_id, normalized(s)) for s in document.get("Statement", [])]
    return found


def function_role(template: dict[str, Any], function_id: str) -> str:
    role = template["Resources"][function_id]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def functions_by_env(template: dict[str, Any], variable: str) -> dict[str, str]:
    """Lambda logical ids by the value of one of their environment variables."""
    found: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        value = resource["Properties"].get("Environment", {}).get("Variables", {}).get(variable)
        if isinstance(value, str):
            found[value] = logical_id
    return found


def function_with_env(template: dict[str, Any], variable: str) -> str:
    """The one function whose environment has `variable` (the api: BATON_STATE_MACHINES, ...)."""
    (found,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and variable in resource["Properties"].get("Environment", {}).get("Variables", {})
    ]
    return str(found)


def state_machine_of(template: dict[str, Any], workflow: str) -> str:
    """The state machine whose Plan invokes the workflow's orchestrator (found through the template alone)."""
    orchestrator = functions_by_env(template, "BATON_WORKFLOW")[workflow]
    (found,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
        and resource["Properties"]["DefinitionSubstitutions"]["OrchestratorFunctionArn"]
        == {"Fn::GetAtt": [orchestrator, "Arn"]}
    ]
    return str(found)


def template_role(template: dict[str, Any], spec: RoleSpec) -> str:
    """The logical id of the role the template gives the component a RoleSpec derives."""
    if spec.component is Component.AGENT:
        return function_role(template, functions_by_env(template, "BATON_AGENT")[spec.name])
    if spec.component is Component.ORCHESTRATOR:
        return function_role(template, functions_by_env(template, "BATON_WORKFLOW")[spec.name])
    if spec.component is Component.API:
        return function_role(template, function_with_env(template, "BATON_STATE_MACHINES"))
    if spec.component is Component.ARCHIVER:
        return function_role(template, function_with_env(template, "BATON_ARCHIVE_BUCKET"))
    machine = template["Resources"][state_machine_of(template, spec.name)]
    return str(machine["Properties"]["RoleArn"]["Fn::GetAtt"][0])


# ---------------------------------------------------------------- what baton.iam derives, rendered for the stack


def _log_group(synthesized: Synthesized, spec: RoleSpec) -> Any:
    stack = synthesized.stack
    by_component = {
        Component.AGENT: lambda: stack.agents[spec.name].log_group,
        Component.ORCHESTRATOR: lambda: stack.workflows[spec.name].orchestrator.log_group,
        Component.API: lambda: stack.api.handler.log_group,
        Component.ARCHIVER: lambda: stack.audit_archive.archiver.log_group,
    }
    return by_component[spec.component]() if spec.component in by_component else None


def resolver(synthesized: Synthesized, spec: RoleSpec) -> Any:
    """ARNs taken from the stack's own constructs (not from the infrastructure's resolver)."""
    stack = synthesized.stack

    def resolve(ref: Ref) -> Any:
        if isinstance(ref, ResourceRef):
            resources = stack.resources
            by_kind = {
                ResourceKind.TABLE: lambda: resources.tables[ref.name].table_arn,
                ResourceKind.SECRET: lambda: resources.secrets[ref.name].secret_arn,
                ResourceKind.QUEUE: lambda: resources.queues[ref.name].queue_arn,
                ResourceKind.TOPIC: lambda: resources.topics[ref.name].topic_arn,
                ResourceKind.PARAMETER: lambda: resources.parameters[ref.name].parameter_arn,
            }
            return by_kind[ref.kind]()
        assert isinstance(ref, PlatformRef)
        by_platform = {
            Platform.STATE_TABLE: lambda: stack.state_table.table.table_arn,
            Platform.STATE_TABLE_STREAM: lambda: stack.state_table.table.table_stream_arn,
            Platform.AGENT_FUNCTION: lambda: stack.agents[ref.name].function.function_arn,
            Platform.ORCHESTRATOR_FUNCTION: lambda: stack.workflows[ref.name].orchestrator.function.function_arn,
            Platform.STATE_MACHINE: lambda: stack.workflows[ref.name].state_machine.state_machine_arn,
            Platform.STATE_MACHINE_EXECUTIONS: lambda: stack.resolve_ref(ref),
            Platform.SYNC_EVENTS_RULE: lambda: stack.resolve_ref(ref),
            Platform.AUDIT_KEY: lambda: stack.workflows[ref.name].audit_key.key_arn,
            Platform.ARCHIVE_BUCKET: lambda: stack.audit_archive.bucket.bucket_arn,
            Platform.ARCHIVE_FAILURES: lambda: stack.audit_archive.failures.queue_arn,
            Platform.OWN_LOG_GROUP: lambda: _log_group(synthesized, spec).log_group_arn,
        }
        return by_platform[ref.kind]()

    return resolve


def expected_statements(synthesized: Synthesized, spec: RoleSpec) -> list[dict[str, Any]]:
    """The derived statements of one role, as the template must hold them."""
    resolve = resolver(synthesized, spec)
    return [normalized(synthesized.resolve(render_statement(s, resolve))) for s in spec.statements]


def derived_roles(synthesized: Synthesized) -> list[tuple[RoleSpec, str]]:
    """Every role baton.iam derives for the synthesized catalog, with the logical id of its template role."""
    return [(spec, template_role(synthesized.template, spec)) for spec in all_roles(synthesized.catalog)]


def sort_key(statement: dict[str, Any]) -> str:
    return str(statement.get("Sid"))


# ---------------------------------------------------------------- template values made concrete

ACCOUNT = "123456789012"
REGION = "us-east-1"
_PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com"}
_ARN_FORMATS = {
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
}


def concrete(template: dict[str, Any], value: Any) -> Any:
    """A template value with its tokens replaced by what CloudFormation would plausibly make of them: pseudo
    parameters, Fn::Join, and each resource's Ref and Arn (named after its RoleName or logical id)."""
    resources = template["Resources"]

    def name(logical_id: str) -> str:
        return str(resources[logical_id].get("Properties", {}).get("RoleName", logical_id))

    def arn(logical_id: str) -> str:
        pattern = _ARN_FORMATS[resources[logical_id]["Type"]]
        return pattern.format(region=REGION, account=ACCOUNT, name=name(logical_id))

    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            ref = value["Ref"]
            if ref in _PSEUDO:
                return _PSEUDO[ref]
            kind = resources[ref]["Type"]
            if kind == "AWS::StepFunctions::StateMachine":
                return arn(ref)
            if kind == "AWS::SQS::Queue":
                return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name(ref)}"
            return name(ref)
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute != "Arn":
                raise NotImplementedError(f"{logical_id}.{attribute}")
            return arn(logical_id)
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return str(separator).join(str(concrete(template, p)) for p in parts)
        if any(key.startswith("Fn::") for key in value):
            raise NotImplementedError(str(value))
        return {k: concrete(template, v) for k, v in value.items()}
    if isinstance(value, list):
        return [concrete(template, v) for v in value]
    return value
