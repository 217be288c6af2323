"""`baton inventory`: what a deployment of the catalog holds, read from the catalog and from the template (or the
deployed stack), and every drift between the two.

Two sources, compared:

- the catalog, what is declared: each agent's tools (side effect, output trust, secrets, egress, the MCP server and
  pin of a remote tool), model, policies and Rule-of-Two class (baton.rule_of_two.classify); each workflow's
  agents, planner and execution type; and the statements each agent's role must hold, derived by
  `baton.iam.agent_role` (the derivation the CDK stack deploys: nothing is restated here);
- a deployment, what exists: a CloudFormation template (`read_template`: synthesized in-process by
  `synthesize_template`, or cdk.out's file) or a deployed stack (`read_stack`: CloudFormation, Lambda and IAM, through
  boto3 clients passed in). Both become one `StackView`: every Lambda function of the stack with its environment and
  its role's statements, every resource an ARN (a template's unknowns are placeholders: `${AWS::Region}`,
  `${LogicalId}`), so the derived statements are rendered into the same space and compared grant by grant.

Drift, each a `Drift` naming the agent, the function and the statement it concerns:

  undeclared_statement        an agent's role allows what no tool (or model) of the agent declares: a statement, an
                              action or resource added to a derived one, a Deny, NotAction or NotResource, a policy
                              attached to the role or one that cannot be read (fail closed)
  missing_statement           the role lacks part of a statement the catalog derives for it
  secret_readable             the role can read a secret (secretsmanager:GetSecretValue, wildcards included) that none
                              of the agent's tools declares: another agent's, or one outside the catalog
  function_outside_catalog    a Lambda function no agent, workflow or Baton component of the catalog declares, an
                              agent or workflow the catalog does not have, a second function for one agent
  agent_without_function      a catalog agent that has no function
  workflow_without_function   a catalog workflow that has no orchestrator function
  environment_names_undeclared_resource
                              an agent function's environment names a resource its tools do not reference (in
                              BATON_RESOURCES, or any other variable naming a resource of the stack or an ARN)
  environment_lacks_resource  its BATON_RESOURCES lacks a resource its tools reference
  environment_conflict        BATON_RESOURCES names one catalog resource differently in two functions, as a resource of
                              another type, or as the state table

Catalog resources are found through the physical ids the agents' BATON_RESOURCES name (what the handlers use); the
environment checks make sure each is named alike by every function, with the declared type. Orchestrator, api and
archiver roles are not compared here (tests/infra/test_roles.py holds them to their derivation at synthesis).
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from baton.catalog import AgentSpec, Catalog, ResourceKind, ResourceRef, SideEffect
from baton.iam import Platform, Ref, agent_role, render_statement
from baton.model_iam import MODEL_REF_KINDS, model_arn
from baton.rule_of_two import RuleOfTwo, classify
from baton.settings import (
    ENV_AGENT,
    ENV_ARCHIVE_BUCKET,
    ENV_CATALOG,
    ENV_RESOURCES,
    ENV_SECRETS_MAX_AGE,
    ENV_STATE_MACHINES,
    ENV_STATE_TABLE,
    ENV_WORKFLOW,
)

DEFAULT_STACK = "Baton"
READ_SECRET = "secretsmanager:GetSecretValue"  # noqa: S105 (an IAM action)
# what every agent function's environment holds besides BATON_RESOURCES (baton.settings), naming no tool resource
_AGENT_PLATFORM_VARIABLES = frozenset({ENV_STATE_TABLE, ENV_CATALOG, ENV_AGENT, ENV_SECRETS_MAX_AGE, ENV_RESOURCES})
_CFN_TYPES = {
    ResourceKind.TABLE: "AWS::DynamoDB::Table",
    ResourceKind.SECRET: "AWS::SecretsManager::Secret",
    ResourceKind.QUEUE: "AWS::SQS::Queue",
    ResourceKind.TOPIC: "AWS::SNS::Topic",
    ResourceKind.PARAMETER: "AWS::SSM::Parameter",
    ResourceKind.EVENT_BUS: "AWS::Events::EventBus",
}
_LAMBDA = "AWS::Lambda::Function"
_ROLE = "AWS::IAM::Role"
_LOG_GROUP = "AWS::Logs::LogGroup"
_ARN_IN_TEXT = re.compile(r"arn:[\w${}:-]+:[\w-]+:[^\s\"',]*")


class InventoryError(ValueError):
    """The template or the stack cannot be read: one line for the user, never a traceback."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- the deployment, as read


class Where(_Model):
    """The stack's partition, region and account: real values for a deployed stack, placeholders for a template."""

    partition: str
    region: str
    account: str


PLACEHOLDERS = Where(partition="${AWS::Partition}", region="${AWS::Region}", account="${AWS::AccountId}")


class FoundStatement(_Model):
    """One statement of a role as found, its values made strings; `readable` False: a policy that could not be read."""

    policy: str  # where it was found: "inline policy Baton", "AWS::IAM::Policy Extra", "managed policy arn:..."
    sid: str | None = None
    effect: str = "Allow"
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    conditions: dict[str, dict[str, tuple[str, ...]]] = {}
    principal: bool = False
    readable: bool = True

    @property
    def label(self) -> str:
        return f"statement {self.sid or '(no Sid)'} of {self.policy}"


class FoundFunction(_Model):
    id: str  # its logical id
    name: str  # its physical name (a deployed stack), else its logical id
    environment: dict[str, str]
    # each environment variable's resources of the stack (logical ids) and ARNs its value names
    named: dict[str, tuple[str, ...]]
    role: str | None  # the role's logical id (template) or name (stack); None: not a role of the stack
    log_group_arn: str
    statements: tuple[FoundStatement, ...]


class StackView(_Model):
    """A deployment of the catalog as found: in a template or a deployed stack."""

    source: str
    where: Where
    functions: tuple[FoundFunction, ...]
    types: dict[str, str]  # logical id -> CloudFormation type
    physical: dict[str, str]  # logical id -> physical id (a template's: placeholders)


# ---------------------------------------------------------------- ARNs, from physical ids


def arn_of(cfn_type: str, physical: str, where: Where) -> str | None:
    """The ARN of a resource of the stack from its physical id (what Ref returns), as CloudFormation's Arn names it."""
    p, r, a = where.partition, where.region, where.account
    formats: dict[str, Callable[[], str]] = {
        "AWS::DynamoDB::Table": lambda: f"arn:{p}:dynamodb:{r}:{a}:table/{physical}",
        "AWS::SQS::Queue": lambda: f"arn:{p}:sqs:{r}:{a}:{physical.rsplit('/', 1)[-1]}",
        "AWS::SNS::Topic": lambda: physical,
        "AWS::SecretsManager::Secret": lambda: physical,
        "AWS::StepFunctions::StateMachine": lambda: physical,
        "AWS::SSM::Parameter": lambda: (
            f"arn:{p}:ssm:{r}:{a}:parameter{'' if physical.startswith('/') else '/'}{physical}"
        ),
        _LOG_GROUP: lambda: f"arn:{p}:logs:{r}:{a}:log-group:{physical}:*",
        _LAMBDA: lambda: f"arn:{p}:lambda:{r}:{a}:function:{physical}",
        _ROLE: lambda: f"arn:{p}:iam::{a}:role/{physical}",
        "AWS::KMS::Key": lambda: f"arn:{p}:kms:{r}:{a}:key/{physical}",
        "AWS::S3::Bucket": lambda: f"arn:{p}:s3:::{physical}",
        "AWS::Events::EventBus": lambda: f"arn:{p}:events:{r}:{a}:event-bus/{physical.rsplit('/', 1)[-1]}",
    }
    make = formats.get(cfn_type)
    return None if make is None else make()


def catalog_arn(kind: ResourceKind, physical: str, where: Where) -> str:
    """The ARN of a catalog resource from the physical id BATON_RESOURCES names (baton.settings)."""
    arn = arn_of(_CFN_TYPES[kind], physical, where)
    assert arn is not None  # noqa: S101 - every catalog kind has an ARN format
    return arn


_LOG_GROUP_ARN_WITHOUT_STREAMS = re.compile(r"^arn:[^:]+:logs:[^:]*:[^:]*:log-group:[^:*]+$")


def _canonical(resource: str) -> str:
    """A log group's ARN with and without its trailing ":*" name the same log group (CloudFormation's Arn of a log
    group has it; moto's, and the logGroupArn AWS also reports, do not): one form, to compare."""
    return resource + ":*" if _LOG_GROUP_ARN_WITHOUT_STREAMS.match(resource) else resource


# ---------------------------------------------------------------- reading a template


_NAME_PROPERTIES = {  # the types whose Ref is their name, and the property that names it
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SSM::Parameter": "Name",
    _LOG_GROUP: "LogGroupName",
    _LAMBDA: "FunctionName",
    _ROLE: "RoleName",
    "AWS::S3::Bucket": "BucketName",
}
_PHYSICAL_FORMATS = {  # the types whose Ref is an ARN or a URL
    "AWS::SecretsManager::Secret": "arn:{p}:secretsmanager:{r}:{a}:secret:{id}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{id}",
    "AWS::StepFunctions::StateMachine": "arn:{p}:states:{r}:{a}:stateMachine:{id}",
    "AWS::SQS::Queue": "https://sqs.{r}.amazonaws.com/{a}/{id}",
}


class _Values:
    """A template's values as strings: Ref and Fn::GetAtt by the physical ids given, else by placeholders; pseudo
    parameters by `where`; Fn::Join and Fn::Sub computed; any other function kept as its JSON (it matches nothing
    the catalog derives, so it is drift, never silently accepted)."""

    def __init__(self, template: Mapping[str, Any], where: Where, stack_name: str, physical: Mapping[str, str]) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.where = where
        self.known = dict(physical)
        self.pseudo = {
            "AWS::Partition": where.partition,
            "AWS::Region": where.region,
            "AWS::AccountId": where.account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
        }

    def type_of(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        return str(resource.get("Type", "")) if isinstance(resource, dict) else ""

    def physical(self, logical_id: str) -> str:
        if logical_id in self.known:
            return self.known[logical_id]
        kind = self.type_of(logical_id)
        resource = self.resources.get(logical_id)
        properties = resource.get("Properties", {}) if isinstance(resource, dict) else {}
        named = properties.get(_NAME_PROPERTIES.get(kind, "")) if isinstance(properties, dict) else None
        if isinstance(named, str):
            return named
        where, placeholder = self.where, "${" + logical_id + "}"
        pattern = _PHYSICAL_FORMATS.get(kind)
        if pattern is None:
            return placeholder
        return pattern.format(p=where.partition, r=where.region, a=where.account, id=placeholder)

    def attribute(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            arn = arn_of(self.type_of(logical_id), self.physical(logical_id), self.where)
            if arn is not None:
                return arn
        return "${" + f"{logical_id}.{attribute}" + "}"

    def value(self, expression: Any, refs: set[str] | None = None) -> str:
        """The expression as a string; the logical ids it refers to are added to `refs`."""
        refs = set() if refs is None else refs
        if isinstance(expression, str):
            return expression
        if isinstance(expression, bool):
            return "true" if expression else "false"
        if isinstance(expression, int | float):
            return str(expression)
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Ref" and isinstance(argument, str):
                return self._ref(argument, refs)
            if function == "Fn::GetAtt":
                parts = argument.split(".", 1) if isinstance(argument, str) else argument
                if isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts):
                    if parts[0] in self.resources:
                        refs.add(parts[0])
                    return self.attribute(parts[0], parts[1])
            if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
                separator, parts = argument
                if isinstance(separator, str) and isinstance(parts, list):
                    return separator.join(self.value(part, refs) for part in parts)
            if function == "Fn::Sub":
                return self._sub(argument, refs)
        return json.dumps(expression, sort_keys=True, separators=(",", ":"))

    def _ref(self, name: str, refs: set[str]) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            refs.add(name)
            return self.physical(name)
        return "${" + name + "}"  # a template parameter

    def _sub(self, argument: Any, refs: set[str]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument, None)  # type: ignore[var-annotated]
        if isinstance(argument, list) and len(argument) == 2:
            text, variables = argument
        if not isinstance(text, str) or not isinstance(variables, dict):
            return json.dumps({"Fn::Sub": argument}, sort_keys=True)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.value(variables[name], refs)
            if "." in name and name.split(".", 1)[0] in self.resources:
                logical_id, attribute = name.split(".", 1)
                refs.add(logical_id)
                return self.attribute(logical_id, attribute)
            return self._ref(name, refs)

        return re.sub(r"\$\{([^}]+)\}", substitute, text)


def _strings(value: Any, values: _Values) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(values.value(item) for item in items)


def _conditions(raw: Any, values: _Values) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(raw, dict):
        return {"(unreadable)": {"value": (json.dumps(raw, sort_keys=True),)}}
    conditions: dict[str, dict[str, tuple[str, ...]]] = {}
    for operator, keys in raw.items():
        if not isinstance(keys, dict):
            conditions[str(operator)] = {"(unreadable)": (json.dumps(keys, sort_keys=True),)}
            continue
        conditions[str(operator)] = {str(key): tuple(sorted(_strings(v, values))) for key, v in keys.items()}
    return conditions


def _statements(document: Any, policy: str, values: _Values) -> tuple[FoundStatement, ...]:
    """The statements of one policy document; a document that is not one is an unreadable statement."""
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), dict | list):
        return (FoundStatement(policy=policy, readable=False),)
    raw_statements = document["Statement"]
    found = []
    for raw in raw_statements if isinstance(raw_statements, list) else [raw_statements]:
        if not isinstance(raw, dict):
            found.append(FoundStatement(policy=policy, readable=False))
            continue
        found.append(
            FoundStatement(
                policy=policy,
                sid=None if raw.get("Sid") is None else str(raw["Sid"]),
                effect=str(raw.get("Effect", "")),
                actions=_strings(raw["Action"], values) if "Action" in raw else (),
                not_actions=_strings(raw["NotAction"], values) if "NotAction" in raw else None,
                resources=tuple(_canonical(r) for r in _strings(raw["Resource"], values)) if "Resource" in raw else (),
                not_resources=_strings(raw["NotResource"], values) if "NotResource" in raw else None,
                conditions=_conditions(raw["Condition"], values) if "Condition" in raw else {},
                principal="Principal" in raw or "NotPrincipal" in raw,
            )
        )
    return tuple(found)


def _template_role_statements(values: _Values, role_id: str) -> tuple[FoundStatement, ...]:
    """A template role's inline policies, the AWS::IAM::Policy and ManagedPolicy resources naming it, and its
    attached managed policies (unreadable here: each is drift)."""
    role = values.resources[role_id]
    properties = role.get("Properties", {}) if isinstance(role, dict) else {}
    found: list[FoundStatement] = []
    for policy in properties.get("Policies", []) or []:
        name = values.value(policy.get("PolicyName", "")) if isinstance(policy, dict) else "?"
        document = policy.get("PolicyDocument") if isinstance(policy, dict) else None
        found += _statements(document, f"inline policy {name}", values)
    for logical_id, resource in values.resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in (
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
        ):
            continue
        attached: set[str] = set()
        for entry in resource.get("Properties", {}).get("Roles", []) or []:
            values.value(entry, attached)
        if role_id in attached:
            document = resource.get("Properties", {}).get("PolicyDocument")
            found += _statements(document, f"{resource['Type']} {logical_id}", values)
    for arn in properties.get("ManagedPolicyArns", []) or []:
        found.append(FoundStatement(policy=f"managed policy {values.value(arn)}", readable=False))
    return tuple(found)


def _named(variables: Mapping[str, str], refs: Mapping[str, set[str]]) -> dict[str, tuple[str, ...]]:
    """Each variable's resources of the stack (`refs`) and the ARNs its value spells out."""
    return {
        name: tuple(sorted(refs.get(name, set()) | set(_ARN_IN_TEXT.findall(value))))
        for name, value in variables.items()
    }


def read_template(template: Any, *, source: str, stack_name: str = "${AWS::StackName}") -> StackView:
    """A CloudFormation template (a synthesized one, or cdk.out's) as a StackView, its unknowns as placeholders."""
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise InventoryError(f"{source} is not a CloudFormation template (it has no Resources)")
    try:
        return _read_template(template, source, stack_name)
    except (AttributeError, TypeError, KeyError, ValueError) as error:  # a hand-edited template's odd shapes
        raise InventoryError(f"{source} is not a template Baton can read: {type(error).__name__}: {error}") from None


def _read_template(template: dict[str, Any], source: str, stack_name: str) -> StackView:
    values = _Values(template, PLACEHOLDERS, stack_name, {})
    types = {logical_id: values.type_of(logical_id) for logical_id in template["Resources"]}
    functions = []
    for logical_id, kind in types.items():
        if kind != _LAMBDA:
            continue
        properties = template["Resources"][logical_id].get("Properties", {})
        raw_variables = (properties.get("Environment") or {}).get("Variables") or {}
        refs: dict[str, set[str]] = {name: set() for name in raw_variables}
        variables = {name: values.value(value, refs[name]) for name, value in raw_variables.items()}
        role_refs: set[str] = set()
        role_value = values.value(properties.get("Role"), role_refs)
        roles = [ref for ref in role_refs if types.get(ref) == _ROLE]
        role = roles[0] if len(roles) == 1 else None
        statements = (
            _template_role_statements(values, role)
            if role is not None
            else (FoundStatement(policy=f"role {role_value} (not a role of the template)", readable=False),)
        )
        functions.append(
            FoundFunction(
                id=logical_id,
                name=logical_id,
                environment=variables,
                named=_named(variables, refs),
                role=role,
                log_group_arn=_log_group_arn(properties, values, values.physical(logical_id)),
                statements=statements,
            )
        )
    physical = {logical_id: values.physical(logical_id) for logical_id in types}
    return StackView(source=source, where=PLACEHOLDERS, functions=tuple(functions), types=types, physical=physical)


def _log_group_arn(properties: Mapping[str, Any], values: _Values, function_name: str) -> str:
    """The function's log group: its LoggingConfig's, else Lambda's default /aws/lambda/<function name>."""
    configured = (properties.get("LoggingConfig") or {}).get("LogGroup")
    name = values.value(configured) if configured is not None else f"/aws/lambda/{function_name}"
    arn = arn_of(_LOG_GROUP, name, values.where)
    assert arn is not None  # noqa: S101
    return arn


def read_template_file(path: Path) -> StackView:
    """--template PATH: a cdk.out template file (or a cdk.out folder holding exactly one)."""
    shown = repr(str(path))
    if path.is_dir():
        candidates = sorted(path.glob("*.template.json"))
        if len(candidates) != 1:
            found = ", ".join(c.name for c in candidates) or "none"
            raise InventoryError(f"{shown} is a folder: name one of its *.template.json files (found: {found})")
        path = candidates[0]
        shown = repr(str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InventoryError(f"template {shown} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InventoryError(f"cannot read template {shown}: {_one_line(error)}") from None
    try:
        template = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as error:
        raise InventoryError(f"template {shown} is not valid JSON: {_one_line(error)}") from None
    stack_name = path.name.removesuffix(".template.json") if path.name.endswith(".template.json") else DEFAULT_STACK
    return read_template(template, source=f"template {path}", stack_name=stack_name)


def synthesize_template(catalog: Any = None, stack_name: str = DEFAULT_STACK) -> StackView:
    """The app's stack synthesized in-process, as `cdk synth` would (without bundling dependencies: the code
    assets are not what is inventoried). `catalog`: what baton.infra.build_app accepts (an AppConfig, a dotted path)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    try:
        from aws_cdk import App

        from baton.infra.app import build_app
    except ModuleNotFoundError as error:
        raise InventoryError(
            f"synthesizing the stack needs the cdk extra ({error.name} is missing): pip install 'baton[cdk]', "
            "or pass --template cdk.out/STACK.template.json or --stack NAME"
        ) from None
    import tempfile

    from baton.validate import describe_exception

    with tempfile.TemporaryDirectory(prefix="baton-inventory-") as outdir:
        try:
            context = {"baton:bundle": "false", "baton:stack": stack_name}
            app, stack = build_app(App(context=context, outdir=outdir), catalog=catalog)
            template = app.synth().get_stack_by_name(stack.stack_name).template
        except Exception as error:  # a catalog or CDK error: one line
            raise InventoryError(f"cannot synthesize the stack: {describe_exception(error)}") from None
    return read_template(template, source=f"the synthesized template of stack {stack_name}", stack_name=stack_name)


# ---------------------------------------------------------------- reading a deployed stack


def read_stack(cloudformation: Any, lambda_: Any, iam: Any, stack_name: str) -> StackView:
    """--stack NAME: the deployed stack through CloudFormation (its resources and template), Lambda (each function's
    environment and role) and IAM (each role's inline and attached policies). Clients are boto3's, passed in."""
    try:
        described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as error:  # an unknown stack, no credentials, no region: one line
        raise InventoryError(f"cannot read stack {stack_name!r}: {_one_line(error)}") from None
    stack_id = str(described["StackId"])
    _, partition, _, region, account, _ = (stack_id.split(":", 5) + [""] * 6)[:6]
    where = Where(partition=partition, region=region, account=account)
    try:
        body = cloudformation.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
        template = body if isinstance(body, dict) else json.loads(body)
        physical: dict[str, str] = {}
        types: dict[str, str] = {}
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("PhysicalResourceId"):
                    physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
                    types[summary["LogicalResourceId"]] = summary["ResourceType"]
        values = _Values(template, where, stack_name, physical)
        functions = tuple(
            _deployed_function(lambda_, iam, values, logical_id, physical, types)
            for logical_id, kind in types.items()
            if kind == _LAMBDA
        )
    except InventoryError:
        raise
    except Exception as error:
        raise InventoryError(f"cannot read stack {stack_name!r}: {_one_line(error)}") from None
    return StackView(
        source=f"stack {stack_name} ({stack_id})", where=where, functions=functions, types=types, physical=physical
    )


def stack_view(stack_name: str, clients: Any = None) -> StackView:
    """`read_stack` with the clients of a baton.aws.AwsClients (default: the environment's credentials and region)."""
    try:
        if clients is None:
            from baton.aws import AwsClients

            clients = AwsClients()
        cloudformation, lambda_, iam = (clients.client(s) for s in ("cloudformation", "lambda", "iam"))
    except Exception as error:  # no region, no boto3: one line
        raise InventoryError(f"cannot read stack {stack_name!r}: {_one_line(error)}") from None
    return read_stack(cloudformation, lambda_, iam, stack_name)


def _deployed_function(
    lambda_: Any, iam: Any, values: _Values, logical_id: str, physical: Mapping[str, str], types: Mapping[str, str]
) -> FoundFunction:
    name = physical[logical_id]
    config = lambda_.get_function_configuration(FunctionName=name)
    variables = {str(k): str(v) for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()}
    needles: dict[str, set[str]] = {}
    for other, value in physical.items():
        arn = arn_of(types.get(other, ""), value, values.where)
        for needle in (value, arn):
            if needle and len(needle) >= 8:  # short physical ids (API Gateway's) would match by chance
                needles.setdefault(needle, set()).add(other)
    refs = {
        variable: {found for needle, ids in needles.items() if needle in value for found in ids}
        for variable, value in variables.items()
    }
    role_name = str(config.get("Role", "")).rsplit("/", 1)[-1]
    template_properties = values.resources.get(logical_id, {}).get("Properties", {})
    log_group = (config.get("LoggingConfig") or {}).get("LogGroup")
    if log_group:
        log_group_arn = arn_of(_LOG_GROUP, str(log_group), values.where) or ""
    else:
        log_group_arn = _log_group_arn(template_properties, values, name)
    return FoundFunction(
        id=logical_id,
        name=name,
        environment=variables,
        named=_named(variables, refs),
        role=role_name,
        log_group_arn=log_group_arn,
        statements=_deployed_role_statements(iam, role_name, values),
    )


def _deployed_role_statements(iam: Any, role: str, values: _Values) -> tuple[FoundStatement, ...]:
    found: list[FoundStatement] = []
    try:
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
            for name in page["PolicyNames"]:
                document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                found += _statements(_document(document), f"inline policy {name}", values)
        attached = [
            policy["PolicyArn"]
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
            for policy in page["AttachedPolicies"]
        ]
    except Exception as error:  # the role is gone or not readable: nothing it holds can be vouched for
        return (FoundStatement(policy=f"role {role} ({_one_line(error)})", readable=False),)
    for arn in attached:
        label = f"managed policy {arn}"
        try:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        except Exception:  # not readable: recorded as such, and drift whatever it holds
            found.append(FoundStatement(policy=label, readable=False))
            continue
        found += _statements(_document(document), label, values)
    return tuple(found)


def _document(document: Any) -> Any:
    """A policy document as boto3 returns it (a dict), or as text: JSON, or a dict's repr (moto's, for roles its
    CloudFormation created). Anything else is returned as is, and read as unreadable."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError:
        pass
    try:
        return ast.literal_eval(document)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return document


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:400] or type(error).__name__


# ---------------------------------------------------------------- the inventory


class DriftKind(StrEnum):
    UNDECLARED_STATEMENT = "undeclared_statement"
    MISSING_STATEMENT = "missing_statement"
    SECRET_READABLE = "secret_readable"  # noqa: S105 (a drift kind)
    FUNCTION_OUTSIDE_CATALOG = "function_outside_catalog"
    AGENT_WITHOUT_FUNCTION = "agent_without_function"
    WORKFLOW_WITHOUT_FUNCTION = "workflow_without_function"
    ENVIRONMENT_NAMES_UNDECLARED_RESOURCE = "environment_names_undeclared_resource"
    ENVIRONMENT_LACKS_RESOURCE = "environment_lacks_resource"
    ENVIRONMENT_CONFLICT = "environment_conflict"


class Drift(_Model):
    """One difference between the catalog and the deployment, with what it concerns."""

    kind: DriftKind
    message: str
    agent: str | None = None
    workflow: str | None = None
    function: str | None = None  # the function's logical id
    statement: str | None = None  # the statement's Sid (or its policy, for a whole policy)

    def line(self) -> str:
        return f"drift: {self.kind.value}: {self.message}"


class McpEntry(_Model):
    """A remote MCP server's tool, pinned (catalog.McpToolRef)."""

    server_url: str
    tool: str
    pinned_sha256: str


class ToolEntry(_Model):
    name: str
    description: str
    side_effect: SideEffect
    output_trusted: bool
    resources: list[str]  # "table orders", ...
    secrets: list[str]
    egress: list[str]
    mcp: McpEntry | None  # set for a remote MCP server's tool


class Permission(_Model):
    """Actions the agent's role allows on one resource (with one set of conditions), as found."""

    resource: str  # "table orders", "own log group", "model amazon.nova-lite-v1:0", "*", or the ARN itself
    arn: str
    actions: list[str]
    conditions: dict[str, dict[str, list[str]]] = {}
    declared: bool  # derived from the catalog; False: drift


class AgentEntry(_Model):
    name: str
    description: str
    kind: Literal["coded", "model-backed"]
    implementation: str | None
    function: str | None  # the function's logical id
    function_name: str | None  # its physical name (a deployed stack), else its logical id
    role: str | None
    tools: list[ToolEntry]
    iam_actions: list[str]  # every action its role allows, as found
    resources: list[Permission]  # on what, as found
    secrets: list[str]  # the secrets its tools declare
    egress: list[str]  # the hosts its tools may reach
    mcp_servers: list[str]  # the MCP servers its tools call (their URLs)
    model: str | None
    guardrail: str | None
    policies: str | None  # its Cedar tool-call policies (baton.policy)
    policies_log_only: bool
    context_keys: list[str]
    rule_of_two: RuleOfTwo
    rule_of_two_summary: str


class WorkflowEntry(_Model):
    name: str
    description: str
    agents: list[str]
    planner: str
    planner_kind: Literal["rule", "model"]
    planner_model: str | None
    execution: Literal["standard", "express"]
    orchestrator: str | None  # its orchestrator function's logical id


class Inventory(_Model):
    """What `baton inventory --json` prints."""

    source: str
    agents: list[AgentEntry]
    workflows: list[WorkflowEntry]
    drift: list[Drift]

    @property
    def ok(self) -> bool:
        return not self.drift


# ---------------------------------------------------------------- comparing


Grant = tuple[str, str, str]  # (action, lowercased: IAM actions are case-insensitive; resource; conditions as JSON)


def _conditions_key(conditions: Mapping[str, Mapping[str, Iterable[str]]]) -> str:
    return json.dumps(
        {op: {key: sorted(str(v) for v in values) for key, values in keys.items()} for op, keys in conditions.items()},
        sort_keys=True,
    )


def _grants(actions: Iterable[str], resources: Iterable[str], conditions: str) -> Iterator[tuple[Grant, str]]:
    """Each (action, resource) of a statement: its comparison key and the action as written."""
    for action in actions:
        for resource in resources:
            yield (action.lower(), _canonical(resource), conditions), action


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """An IAM wildcard pattern (`*`, `?`; nothing else is special) as a regular expression."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _matches(pattern: str, value: str, *, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return _glob(pattern).fullmatch(value) is not None


_PLACEHOLDER = re.compile(r"\$\{AWS::[A-Za-z]+\}")


def _overlap(pattern: str, value: str) -> bool:
    """Whether an IAM resource pattern can match `value`, whose pseudo-parameter placeholders (a template's
    partition, region, account) may be anything: whether some string matches both as wildcard patterns."""
    a, b = pattern, _PLACEHOLDER.sub("*", value)
    n, m = len(a), len(b)
    # meet[i][j]: some string matches both a[i:] and b[j:]
    meet = [[False] * (m + 1) for _ in range(n + 1)]
    meet[n][m] = True
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i < n and a[i] == "*":
                meet[i][j] = meet[i + 1][j] or (j < m and meet[i][j + 1])
            elif j < m and b[j] == "*":
                meet[i][j] = meet[i][j + 1] or (i < n and meet[i + 1][j])
            elif i < n and j < m:
                meet[i][j] = (a[i] == b[j] or "?" in (a[i], b[j])) and meet[i + 1][j + 1]
    return meet[0][0]


def _describe(ref: Ref) -> str:
    """A reference as people read it: "table orders", "own log group", "model amazon.nova-lite-v1:0"."""
    if isinstance(ref, ResourceRef):
        return f"{ref.kind.value} {ref.name}{ref.suffix}"
    labels = {
        Platform.ANY: "*",
        Platform.OWN_LOG_GROUP: "own log group",
        Platform.BEDROCK_FOUNDATION_MODEL: f"model {ref.name}",
        Platform.BEDROCK_INFERENCE_PROFILE: f"inference profile {ref.name}",
        Platform.BEDROCK_GUARDRAIL: f"guardrail {ref.name}",
    }
    return labels.get(ref.kind, f"{ref.kind.value.replace('_', ' ')} {ref.name}".strip()) + (
        "" if ref.kind is Platform.ANY else ref.suffix
    )


class _Comparison:
    """The catalog against one StackView."""

    def __init__(self, catalog: Catalog, view: StackView) -> None:
        self.catalog = catalog
        self.view = view
        self.drift: list[Drift] = []
        self.agent_functions: dict[str, list[FoundFunction]] = {}
        self.orchestrators: dict[str, list[FoundFunction]] = {}
        self.declared_resources: dict[str, dict[str, str]] = {}  # function id -> its BATON_RESOURCES
        self.resource_map: dict[str, str] = {}  # catalog resource name -> physical id
        self.labels: dict[str, str] = {}  # ARN -> what people call it

    def add(self, kind: DriftKind, message: str, **concerns: str | None) -> None:
        self.drift.append(Drift(kind=kind, message=message, **concerns))

    # ------------------------------------------------------------ functions

    def classify_functions(self) -> None:
        """Each function as an agent's, a workflow's orchestrator, the api or the archiver, or drift."""
        platform: dict[str, list[FoundFunction]] = {"api": [], "archiver": []}
        for function in self.view.functions:
            env = function.environment
            if ENV_AGENT in env:
                self._sort(function, "runs agent", env[ENV_AGENT], self.catalog.agents, self.agent_functions)
            elif ENV_WORKFLOW in env:
                self._sort(
                    function, "orchestrates workflow", env[ENV_WORKFLOW], self.catalog.workflows, self.orchestrators
                )
            elif ENV_STATE_MACHINES in env or ENV_ARCHIVE_BUCKET in env:
                platform["api" if ENV_STATE_MACHINES in env else "archiver"].append(function)
            else:
                self.add(
                    DriftKind.FUNCTION_OUTSIDE_CATALOG,
                    f"function {_function(function)} is declared by no agent or workflow of the catalog and is not "
                    "Baton's api or archiver",
                    function=function.id,
                )
        for component, functions in [*platform.items(), *self.agent_functions.items()]:
            what = f"{component} function" if component in platform else f"function of agent {component!r}"
            for extra in functions[1:]:
                self.add(
                    DriftKind.FUNCTION_OUTSIDE_CATALOG,
                    f"function {_function(extra)} is a second {what} (the first: {functions[0].id})",
                    agent=None if component in platform else component,
                    function=extra.id,
                )
        for name in self.catalog.agents:
            if not self.agent_functions.get(name):
                self.add(DriftKind.AGENT_WITHOUT_FUNCTION, f"agent {name!r} has no function", agent=name)
        for name in self.catalog.workflows:
            if not self.orchestrators.get(name):
                message = f"workflow {name!r} has no orchestrator function"
                self.add(DriftKind.WORKFLOW_WITHOUT_FUNCTION, message, workflow=name)

    def _sort(
        self,
        function: FoundFunction,
        role: str,
        name: str,
        declared: Mapping[str, object],
        into: dict[str, list[FoundFunction]],
    ) -> None:
        if name in declared:
            into.setdefault(name, []).append(function)
        else:
            self.add(
                DriftKind.FUNCTION_OUTSIDE_CATALOG,
                f"function {_function(function)} {role} {name!r}, which the catalog does not declare",
                function=function.id,
            )

    # ------------------------------------------------------------ environments

    def read_environments(self) -> None:
        """Every agent function's BATON_RESOURCES, and one physical id per catalog resource name."""
        state_tables = {f.environment[ENV_STATE_TABLE] for f in self.view.functions if ENV_STATE_TABLE in f.environment}
        by_physical = {physical: logical_id for logical_id, physical in self.view.physical.items()}
        first: dict[str, str] = {}
        for agent, functions in self.agent_functions.items():
            for function in functions:
                declared = self._environment_resources(agent, function)
                self.declared_resources[function.id] = declared
                for name, physical in declared.items():
                    spec = self.catalog.resources.get(name)
                    if spec is None:
                        continue
                    where = f"function {_function(function)} (agent {agent!r})"
                    if name in self.resource_map and self.resource_map[name] != physical:
                        self.add(
                            DriftKind.ENVIRONMENT_CONFLICT,
                            f"{where} names {spec.kind.value} {name!r} as {physical!r}, function {first[name]} as "
                            f"{self.resource_map[name]!r}",
                            agent=agent,
                            function=function.id,
                        )
                        continue
                    self.resource_map[name], first[name] = physical, function.id
                    logical_id = by_physical.get(physical)
                    found_type = self.view.types.get(logical_id or "")
                    if physical in state_tables:
                        self.add(
                            DriftKind.ENVIRONMENT_CONFLICT,
                            f"{where} names the state table as {spec.kind.value} {name!r}",
                            agent=agent,
                            function=function.id,
                        )
                    elif found_type and found_type != _CFN_TYPES[spec.kind]:
                        self.add(
                            DriftKind.ENVIRONMENT_CONFLICT,
                            f"{where} names {spec.kind.value} {name!r} as {logical_id}, a {found_type}",
                            agent=agent,
                            function=function.id,
                        )
        for name, physical in self.resource_map.items():
            kind = self.catalog.resources[name].kind
            self.labels[catalog_arn(kind, physical, self.view.where)] = f"{kind.value} {name}"

    def _environment_resources(self, agent: str, function: FoundFunction) -> dict[str, str]:
        raw = function.environment.get(ENV_RESOURCES)
        if raw is None:
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            self.add(
                DriftKind.ENVIRONMENT_CONFLICT,
                f"function {_function(function)} (agent {agent!r}): {ENV_RESOURCES} is not a JSON object of names",
                agent=agent,
                function=function.id,
            )
            return {}
        return {str(k): str(v) for k, v in parsed.items()}

    def check_environment(self, agent: AgentSpec, function: FoundFunction) -> None:
        where = f"function {_function(function)} of agent {agent.name!r}"
        referenced = {resource.name for resource in self.catalog.resources_of(agent)}
        named = self.declared_resources.get(function.id, {})
        for name in sorted(set(named) - referenced):
            spec = self.catalog.resources.get(name)
            what = f"{spec.kind.value} {name!r}" if spec else f"{name!r} (not a resource of the catalog)"
            self.add(
                DriftKind.ENVIRONMENT_NAMES_UNDECLARED_RESOURCE,
                f"{where}: {ENV_RESOURCES} names {what}, which none of its tools references",
                agent=agent.name,
                function=function.id,
            )
        for name in sorted(referenced - set(named)):
            self.add(
                DriftKind.ENVIRONMENT_LACKS_RESOURCE,
                f"{where}: {ENV_RESOURCES} lacks {self.catalog.resources[name].kind.value} {name!r}, which its tools "
                "reference",
                agent=agent.name,
                function=function.id,
            )
        own = {named[name] for name in referenced & set(named)}
        own |= {catalog_arn(self.catalog.resources[n].kind, named[n], self.view.where) for n in referenced & set(named)}
        for variable, names in sorted(function.named.items()):
            if variable in _AGENT_PLATFORM_VARIABLES:
                continue
            stack_ids = [name for name in names if name in self.view.types]
            spelled = {self.view.physical[i] for i in stack_ids} | {self._arn(i) for i in stack_ids}
            for target in names:
                if target in own or self.view.physical.get(target) in own or target in spelled:
                    continue
                what = f"{self.view.types[target]} {target}" if target in self.view.types else target
                self.add(
                    DriftKind.ENVIRONMENT_NAMES_UNDECLARED_RESOURCE,
                    f"{where}: variable {variable} names {what}, which none of its tools references",
                    agent=agent.name,
                    function=function.id,
                )

    def _arn(self, logical_id: str) -> str:
        physical = self.view.physical.get(logical_id, "")
        return arn_of(self.view.types[logical_id], physical, self.view.where) or physical

    # ------------------------------------------------------------ roles

    def resolver(self, function: FoundFunction) -> Callable[[Ref], str]:
        where = self.view.where

        def resolve(ref: Ref) -> str:
            if isinstance(ref, ResourceRef):
                physical = self.resource_map.get(ref.name)
                if physical is None:
                    return f"({ref.kind.value} {ref.name}: no function's {ENV_RESOURCES} names it)"
                return catalog_arn(ref.kind, physical, where)
            if ref.kind is Platform.OWN_LOG_GROUP:
                return function.log_group_arn
            if ref.kind is Platform.PEER_ROLE:  # another account's role: declared by its ARN
                return ref.name
            if ref.kind is Platform.SESSION_ROLE:  # named by baton.iam.session_role_name, found among the stack's roles
                suffix = f"-session-{ref.name.replace('_', '-')}"
                for logical_id, physical in self.view.physical.items():
                    if self.view.types.get(logical_id) == _ROLE and physical.endswith(suffix):
                        return arn_of(_ROLE, physical, where) or physical
            if ref.kind.value in MODEL_REF_KINDS:
                return model_arn(
                    ref.kind.value, ref.name, partition=where.partition, region=where.region, account=where.account
                )
            return f"({_describe(ref)}: not a resource of an agent's role)"

        return resolve

    def derived(self, agent: AgentSpec, function: FoundFunction) -> tuple[dict[Grant, tuple[str, str]], dict[str, str]]:
        """What baton.iam derives for the agent's role, rendered for this deployment: each grant with its Sid and
        action as written; and what people call each ARN."""
        resolve = self.resolver(function)
        labels = dict(self.labels)
        derived: dict[Grant, tuple[str, str]] = {}
        for spec in agent_role(self.catalog, agent).statements:
            rendered = render_statement(spec, resolve)
            for ref, arn in zip(spec.resources, rendered["Resource"], strict=True):
                labels.setdefault(_canonical(arn), _describe(ref))
            conditions = _conditions_key(rendered.get("Condition", {}))
            for grant, action in _grants(rendered["Action"], rendered["Resource"], conditions):
                derived.setdefault(grant, (spec.sid, action))
        return derived, labels

    def check_role(self, agent: AgentSpec, function: FoundFunction) -> list[Permission]:
        """Undeclared and missing grants of the agent's role, and the permissions it holds as found."""
        where = f"function {_function(function)} of agent {agent.name!r}"
        derived, labels = self.derived(agent, function)
        found: set[Grant] = set()
        held: dict[tuple[str, str, bool], tuple[dict[str, dict[str, list[str]]], list[str]]] = {}
        for statement in function.statements:
            concerns = {"agent": agent.name, "function": function.id, "statement": statement.sid or statement.policy}
            whole = _whole_statement(statement)
            if whole is not None:
                message = f"{where}: {statement.label} {whole}, which no tool of {agent.name!r} declares"
                self.add(DriftKind.UNDECLARED_STATEMENT, message, **concerns)
                continue
            conditions = _conditions_key(statement.conditions)
            undeclared: dict[str, list[str]] = {}
            for grant, action in _grants(statement.actions, statement.resources, conditions):
                found.add(grant)
                if grant not in derived:
                    undeclared.setdefault(labels.get(grant[1], grant[1]), []).append(action)
                key = (grant[1], conditions, grant in derived)
                actions = held.setdefault(key, (_lists(statement.conditions), []))[1]
                if action not in actions:
                    actions.append(action)
            if undeclared:
                under = " (under conditions)" if statement.conditions else ""
                message = f"{where}: {statement.label} allows {_on(undeclared)}{under}, which no tool of "
                self.add(DriftKind.UNDECLARED_STATEMENT, message + f"{agent.name!r} declares", **concerns)
        missing: dict[str, dict[str, list[str]]] = {}
        for grant, (sid, action) in derived.items():
            if grant not in found:
                missing.setdefault(sid, {}).setdefault(labels.get(grant[1], grant[1]), []).append(action)
        for sid, what in missing.items():
            message = f"{where}: its role lacks {_on(what)} (statement {sid}), which its declarations derive"
            self.add(DriftKind.MISSING_STATEMENT, message, agent=agent.name, function=function.id, statement=sid)
        self.check_secrets(agent, function, where)
        rank: dict[str, int] = {}  # as derived: the tools' grants first; what no declaration explains last
        for grant in derived:
            rank.setdefault(grant[1], len(rank))
        return [
            Permission(resource=labels.get(arn, arn), arn=arn, actions=sorted(actions), conditions=conds, declared=ok)
            for (arn, _, ok), (conds, actions) in sorted(
                held.items(), key=lambda item: (not item[0][2], rank.get(item[0][0], len(rank)), item[0])
            )
        ]

    def check_secrets(self, agent: AgentSpec, function: FoundFunction, where: str) -> None:
        """Every secret the role can read that none of the agent's tools declares."""
        declared = {secret for tool in self.catalog.tools_of(agent) for secret in tool.secrets}
        catalog_secrets = {
            catalog_arn(ResourceKind.SECRET, self.resource_map[name], self.view.where): name
            for name, spec in self.catalog.resources.items()
            if spec.kind is ResourceKind.SECRET and name in self.resource_map
        }
        w = self.view.where
        any_secret = f"arn:{w.partition}:secretsmanager:{w.region}:{w.account}:secret:*"
        reported: set[str] = set()
        for statement in function.statements:
            if not statement.readable or statement.effect != "Allow" or not _reads_secrets(statement):
                continue
            for arn, name in catalog_secrets.items():
                if name not in declared and name not in reported and _covers(statement, arn):
                    reported.add(name)
                    self.add(
                        DriftKind.SECRET_READABLE,
                        f"{where}: {statement.label} lets it read secret {name!r}, which none of its tools declares",
                        agent=agent.name,
                        function=function.id,
                        statement=statement.sid or statement.policy,
                    )
            outside = (
                ["everything but " + ", ".join(statement.not_resources)]
                if statement.not_resources is not None
                else [r for r in statement.resources if r not in catalog_secrets and _overlap(r, any_secret)]
            )
            for pattern in outside:
                if pattern not in reported:
                    reported.add(pattern)
                    self.add(
                        DriftKind.SECRET_READABLE,
                        f"{where}: {statement.label} lets it read secrets outside the catalog ({pattern})",
                        agent=agent.name,
                        function=function.id,
                        statement=statement.sid or statement.policy,
                    )


def _whole_statement(statement: FoundStatement) -> str | None:
    """What makes a statement something Baton never derives, as a phrase; None for a readable plain Allow."""
    if not statement.readable:
        return "cannot be read or compared"
    if statement.effect != "Allow":
        return f"has Effect {statement.effect or '(none)'!r} on {', '.join(statement.resources) or '(nothing)'}"
    if statement.not_actions is not None:
        return f"allows every action but {', '.join(statement.not_actions)} (NotAction)"
    if statement.not_resources is not None:
        return f"allows {', '.join(statement.actions)} on everything but {', '.join(statement.not_resources)}"
    if statement.principal:
        return "names a Principal (not an identity policy statement)"
    if not statement.actions or not statement.resources:
        return "names no action or no resource"
    return None


def _reads_secrets(statement: FoundStatement) -> bool:
    if statement.not_actions is not None:
        return not any(_matches(p, READ_SECRET, case=False) for p in statement.not_actions)
    return any(_matches(p, READ_SECRET, case=False) for p in statement.actions)


def _covers(statement: FoundStatement, arn: str) -> bool:
    if statement.not_resources is not None:
        return not any(_overlap(p, arn) for p in statement.not_resources if "*" not in p and "?" not in p)
    return any(_overlap(pattern, arn) for pattern in statement.resources)


def _lists(conditions: Mapping[str, Mapping[str, Iterable[str]]]) -> dict[str, dict[str, list[str]]]:
    return {op: {key: list(values) for key, values in keys.items()} for op, keys in conditions.items()}


def _on(actions_by_resource: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{', '.join(sorted(set(a)))} on {r}" for r, a in sorted(actions_by_resource.items()))


def _function(function: FoundFunction) -> str:
    return function.id if function.name == function.id else f"{function.id} ({function.name})"


def inventory_of(catalog: Catalog, view: StackView) -> Inventory:
    """Every agent and workflow of the catalog, as deployed in `view`, and every drift between the two."""
    comparison = _Comparison(catalog, view)
    comparison.classify_functions()
    comparison.read_environments()
    agents = []
    for agent in catalog.agents.values():
        functions = comparison.agent_functions.get(agent.name, [])
        function = functions[0] if functions else None
        permissions: list[Permission] = []
        for each in functions:
            comparison.check_environment(agent, each)
            checked = comparison.check_role(agent, each)
            permissions = permissions or checked
        agents.append(_agent_entry(catalog, agent, function, permissions))
    workflows = [
        WorkflowEntry(
            name=workflow.name,
            description=workflow.description,
            agents=list(workflow.agents),
            planner=workflow.planner,
            planner_kind="rule" if workflow.planner_model is None else "model",
            planner_model=None if workflow.planner_model is None else workflow.planner_model.model_id,
            execution=workflow.execution,
            orchestrator=next((f.id for f in comparison.orchestrators.get(workflow.name, [])), None),
        )
        for workflow in catalog.workflows.values()
    ]
    return Inventory(source=view.source, agents=agents, workflows=workflows, drift=comparison.drift)


def _agent_entry(
    catalog: Catalog, agent: AgentSpec, function: FoundFunction | None, permissions: list[Permission]
) -> AgentEntry:
    tools = catalog.tools_of(agent)
    verdict = classify(catalog, agent.name)
    return AgentEntry(
        name=agent.name,
        description=agent.description,
        kind="coded" if agent.model is None else "model-backed",
        implementation=agent.implementation,
        function=None if function is None else function.id,
        function_name=None if function is None else function.name,
        role=None if function is None else function.role,
        tools=[
            ToolEntry(
                name=tool.name,
                description=tool.description,
                side_effect=tool.side_effect,
                output_trusted=tool.output_trusted,
                resources=[_describe(ref) for ref in tool.resource_refs()],
                secrets=list(tool.secrets),
                egress=list(tool.egress),
                mcp=None
                if tool.mcp is None
                else McpEntry(server_url=tool.mcp.server_url, tool=tool.mcp.tool, pinned_sha256=tool.mcp.pinned_sha256),
            )
            for tool in tools
        ],
        iam_actions=sorted({action for p in permissions for action in p.actions}),
        resources=permissions,
        secrets=sorted({secret for tool in tools for secret in tool.secrets}),
        egress=sorted({host for tool in tools for host in tool.egress}),
        mcp_servers=sorted({tool.mcp.server_url for tool in tools if tool.mcp is not None}),
        model=None if agent.model is None else agent.model.model_id,
        guardrail=None if agent.model is None else agent.model.guardrail_id,
        policies=None if agent.policies is None else agent.policies.label,
        policies_log_only=agent.policies is not None and agent.policies.log_only,
        context_keys=list(agent.context_keys),
        rule_of_two=verdict,
        rule_of_two_summary=verdict.summary(),
    )


# ---------------------------------------------------------------- the table


# what every agent's role holds besides its tools' and model's statements (baton.iam): left out of the table
_EVERY_AGENT = ("own log group", "*")


def render_table(inventory: Inventory) -> str:
    """What `baton inventory` prints: one row per agent, one per workflow, then the drift (or none)."""
    header = [
        "AGENT / FUNCTION",
        "TOOLS",
        "IAM (ACTIONS ON RESOURCES)",
        "SECRETS",
        "EGRESS",
        "MODEL / POLICIES",
        "RULE OF 2",
    ]
    agent_rows = [header]
    for agent in inventory.agents:
        shown = [p for p in agent.resources if not (p.declared and p.resource in _EVERY_AGENT)]
        agent_rows.append(
            [
                f"{agent.name}\n  {agent.function or '(no function)'}",
                "\n".join(
                    f"{t.name} ({t.side_effect.value}, {'trusted' if t.output_trusted else 'untrusted'})"
                    + ("" if t.mcp is None else f"\n  mcp {t.mcp.tool} at {t.mcp.server_url}")
                    for t in agent.tools
                ),
                "\n".join(
                    f"{', '.join(p.actions)} on {p.resource}" + ("" if p.declared else "  [UNDECLARED]") for p in shown
                ),
                "\n".join(agent.secrets),
                "\n".join(agent.egress),
                "\n".join(filter(None, [agent.model, agent.policies and f"policies {agent.policies}"])),
                agent.rule_of_two_summary,
            ]
        )
    workflow_rows = [["WORKFLOW / ORCHESTRATOR", "EXECUTION", "PLANNER", "AGENTS"]]
    for workflow in inventory.workflows:
        planner = f"{workflow.planner_kind}: {workflow.planner}"
        workflow_rows.append(
            [
                f"{workflow.name}\n  {workflow.orchestrator or '(no function)'}",
                workflow.execution,
                planner if workflow.planner_model is None else f"{planner}\n  {workflow.planner_model}",
                "\n".join(workflow.agents),
            ]
        )
    lines = [f"baton inventory of {inventory.source}", "", *_table(agent_rows)]
    lines += ["", "every agent's role also writes its own log group and sends X-Ray traces (--json lists all)", ""]
    lines += _table(workflow_rows)
    lines.append("")
    if inventory.ok:
        agents, workflows = len(inventory.agents), len(inventory.workflows)
        lines.append(f"no drift: {_count(agents, 'agent')} and {_count(workflows, 'workflow')} deployed as declared")
    else:
        lines += [drift.line() for drift in inventory.drift]
        lines.append(_count(len(inventory.drift), "drift"))
    return "\n".join(lines) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _table(rows: list[list[str]]) -> list[str]:
    cells = [[(cell or "-").split("\n") for cell in row] for row in rows]
    widths = [max(len(line) for row in cells for line in row[column]) for column in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(cells):
        for part in range(max(len(cell) for cell in row)):
            texts = [cell[part] if part < len(cell) else "" for cell in row]
            lines.append("  ".join(text.ljust(width) for text, width in zip(texts, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


__all__ = [
    "Drift",
    "DriftKind",
    "FoundFunction",
    "FoundStatement",
    "Inventory",
    "InventoryError",
    "McpEntry",
    "StackView",
    "inventory_of",
    "read_stack",
    "read_template",
    "read_template_file",
    "render_table",
    "stack_view",
    "synthesize_template",
]
