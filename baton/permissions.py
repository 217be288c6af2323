"""The permissions report: which IAM statements of each function's role a fixed set of offline runs exercised.

    baton permissions report [--json PATH]

The run set is declared, so the report is the same whichever tests ran: each workflow's example inputs, named in the
app's pyproject.toml beside its catalog, as files or globs relative to that file's folder:

    [tool.baton]
    catalog = "myapp.catalog:CATALOG"

    [tool.baton.examples]
    triage = ["examples/*.json"]

Every example runs offline, one after the other, on the LocalEngine (moto; the models are the doubles each workflow's
offline fixture registers). Every AWS call each function makes through its clients is recorded by the engine
(`LocalEngine(on_call=...)`); `requests_of` turns each into the IAM requests AWS authorises it as (the action, the
resource's ARN and dynamodb:LeadingKeys, the condition key Baton's statements use), and each request is judged by
baton.iam_eval against every statement baton.iam derives for that function's role (each agent, each workflow's
orchestrator, the API), rendered with the offline deployment's ARNs. Per function, each statement is:

  exercised    it allowed at least one call; any of its actions no call used is listed as unused
  unexercised  no call needed it: a candidate for removal
  runtime      the function's own logs and traces, which Lambda and X-Ray use on its behalf, never its code (and a
               starter's trigger queue, which Lambda's event source mapping polls): never seen offline, and no
               candidate for removal

and a call that no statement allows is *uncovered*: AccessDenied on AWS, and the report fails (a KMS key's own key
policy, which AWS also asks, is the infrastructure tests' to judge). So is a call the report cannot translate or
judge (an operation `requests_of` does not know, a condition key the evaluator does not implement), with the reason:
it is never assumed allowed. An action a run holds for a person is approved through the API, as the workflow's first
approver role, once the run waits for it (`approve_when_held`): every run ends, and takes the same path each time.

What it does not see: calls of code that builds its own boto3 client (its role alone confines it on AWS; the moto
CloudFormation test judges a rogue agent's) and the state machines' own calls (made by moto's interpreter; that test
judges them too). The logic here takes plain records and never imports boto3; only `run_examples` starts the engine.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from baton import keys
from baton.catalog import Catalog, ResourceKind, ResourceRef
from baton.iam import (
    LEADING_KEYS,
    WILDCARD,
    Component,
    Platform,
    PlatformRef,
    Ref,
    RoleSpec,
    StatementSpec,
    render_statement,
    session_role_name,
)
from baton.iam_eval import Decision, EvaluationError, Request, evaluate
from baton.model_iam import FOUNDATION_MODEL, GUARDRAIL, INFERENCE_PROFILE, model_arn

if TYPE_CHECKING:
    from baton.config import AppConfig

REPORT_KIND = "baton.permissions-report"
DEFAULT_JSON = Path("build") / "permissions-report.json"
EXAMPLES_KEY = "examples"
Status = Literal["exercised", "unexercised", "runtime"]
_COMPONENT_ORDER = {Component.AGENT: 0, Component.ORCHESTRATOR: 1, Component.API: 2}


class ExamplesError(ValueError):
    """The declared run set is missing or wrong (an unknown workflow, a glob matching nothing, an invalid input)."""


class Untranslatable(Exception):
    """A recorded call whose IAM request this module cannot name: reported uncovered, never assumed allowed."""


# ---------------------------------------------------------------- the declared run set


@dataclass(frozen=True)
class Example:
    workflow: str
    label: str  # its path, relative to the folder of the pyproject.toml that declares it (POSIX separators)
    run_input: Any


def declared_examples(config: AppConfig, catalog: Catalog) -> tuple[Example, ...]:
    """The example inputs `[tool.baton.examples]` declares, each checked against its workflow's input model.

    Sorted by workflow, then path. Raises ExamplesError, in one line, for anything wrong: no declaration, a workflow
    the catalog does not have, a pattern matching no file, a file that is not JSON or not a valid input.
    """
    from baton.config import CONFIG_FILE, ConfigError, find_config_file

    if config.root is None:
        raise ExamplesError(f"no {CONFIG_FILE} with a [tool.baton] table: declare [tool.baton.{EXAMPLES_KEY}] there")
    try:
        found = find_config_file(config.root)
    except ConfigError as error:
        raise ExamplesError(str(error)) from None
    where = config.root / CONFIG_FILE if found is None else found[0]
    section = {} if found is None else found[1]
    declared = section.get(EXAMPLES_KEY)
    first = next(iter(sorted(catalog.workflows)), "workflow")
    hint = f'[tool.baton.{EXAMPLES_KEY}] in {where} (e.g. {first} = ["examples/*.json"])'
    if not declared:
        raise ExamplesError(f"no example inputs declared: add {hint}")
    if not isinstance(declared, dict):
        raise ExamplesError(f"{EXAMPLES_KEY} must be a table of workflow = [files or globs]: see {hint}")
    examples: list[Example] = []
    for workflow_name in sorted(declared):
        examples += _workflow_examples(catalog, config.root, where, workflow_name, declared[workflow_name])
    return tuple(examples)


def _workflow_examples(catalog: Catalog, root: Path, where: Path, workflow_name: str, patterns: Any) -> list[Example]:
    workflow = catalog.workflows.get(workflow_name)
    if workflow is None:
        known = ", ".join(sorted(catalog.workflows))
        raise ExamplesError(
            f"{where}: examples name workflow {workflow_name!r}, which the catalog lacks (known: {known})"
        )
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise ExamplesError(f"{where}: examples of {workflow_name!r} must be a list of files or globs")
    paths: set[Path] = set()
    for pattern in patterns:
        if Path(pattern).is_absolute():
            raise ExamplesError(f"{where}: example {pattern!r} must be relative to {root}")
        matched = [Path(p) for p in glob.glob(str(root / pattern)) if Path(p).is_file()]
        if not matched:
            raise ExamplesError(f"{where}: example pattern {pattern!r} of {workflow_name!r} matches no file")
        paths.update(matched)
    examples = []
    for path in sorted(paths):
        label = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            run_input = json.loads(path.read_text(encoding="utf-8-sig"))
            workflow.input_model.model_validate(run_input)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            reason = _validation_reason(error) if isinstance(error, ValidationError) else type(error).__name__
            raise ExamplesError(f"example {label!r} is not a valid {workflow_name} input: {reason}") from None
        examples.append(Example(workflow_name, label, run_input))
    return examples


def _validation_reason(error: ValidationError) -> str:
    from baton.validate import describe_validation_error

    return describe_validation_error(error)


# ---------------------------------------------------------------- what the report judges


@dataclass(frozen=True)
class Call:
    """One AWS call a function made: botocore's service prefix and operation name, and the request's parameters."""

    function: str
    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Deployed:
    """What names ARNs in one deployment: its region and account, and the physical ids of what it made."""

    region: str
    account: str
    physical_ids: Mapping[str, str]  # catalog resource -> table name, secret ARN, queue URL, topic ARN, parameter
    state_table: str
    state_machines: Mapping[str, str]  # workflow -> ARN
    audit_keys: Mapping[str, str]  # workflow -> KMS key ARN
    function_names: Mapping[str, str] = field(default_factory=dict)  # "agent:<name>" / "orchestrator:<wf>" -> name
    # each table's partition key attribute (by table name; an index's by "<table>/index/<index>")
    partition_keys: Mapping[str, str] = field(default_factory=dict)
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if regional else ''}:{self.account if account else ''}:"
            f"{resource}"
        )

    def resolve(self, ref: Ref, function: str) -> str:
        """The ARN a reference of a derived statement stands for here (without its suffix); `function`: whose role."""
        if isinstance(ref, ResourceRef):
            physical = self.physical_ids.get(ref.name)
            if physical is None:  # not deployed here: a placeholder that matches no request
                return self.arn("baton", f"{ref.kind.value}/{ref.name}")
            if ref.kind is ResourceKind.TABLE:
                return self.table_arn(physical)
            if ref.kind is ResourceKind.QUEUE:
                return self.queue_arn(physical)
            if ref.kind is ResourceKind.PARAMETER:
                return self.parameter_arn(physical)
            return physical  # secrets, topics and event buses: their physical id is their ARN
        if ref.kind.value in (FOUNDATION_MODEL, INFERENCE_PROFILE, GUARDRAIL):
            return model_arn(
                ref.kind.value, ref.name, partition=self.partition, region=self.region, account=self.account
            )
        by_kind: dict[Platform, Callable[[], str]] = {
            Platform.STATE_TABLE: lambda: self.table_arn(self.state_table),
            Platform.STATE_TABLE_STREAM: lambda: self.table_arn(self.state_table) + "/stream/*",
            Platform.AUDIT_KEY: lambda: self.audit_keys.get(ref.name, self.arn("kms", f"key/{ref.name}")),
            Platform.STATE_MACHINE: lambda: self.state_machines.get(
                ref.name, self.arn("states", f"stateMachine:{ref.name}")
            ),
            Platform.AGENT_FUNCTION: lambda: self.function_arn(self.function_names.get(f"agent:{ref.name}", ref.name)),
            Platform.ORCHESTRATOR_FUNCTION: lambda: self.function_arn(
                self.function_names.get(f"orchestrator:{ref.name}", ref.name)
            ),
            Platform.OWN_LOG_GROUP: lambda: self.arn("logs", f"log-group:/aws/lambda/{function}"),
            Platform.ARCHIVE_BUCKET: lambda: self.arn("s3", "baton-audit-archive", regional=False, account=False),
            Platform.ARCHIVE_FAILURES: lambda: self.arn("sqs", "baton-archive-failures"),
            Platform.PEER_ROLE: lambda: ref.name,  # another account's role: its declared ARN
            # a tool's STS session role, named as the offline provisioning names it (baton.local.provisioning)
            Platform.SESSION_ROLE: lambda: self.arn(
                "iam", f"role/{session_role_name('baton-local', ref.name)}", regional=False
            ),
        }
        make = by_kind.get(ref.kind)
        # anything else names a resource no offline call can reach: a placeholder that matches no request
        return make() if make is not None else self.arn("baton", f"{ref.kind.value}/{ref.name}")

    def table_arn(self, table: str) -> str:
        return table if table.startswith("arn:") else self.arn("dynamodb", f"table/{table}")

    def queue_arn(self, queue: str) -> str:
        if queue.startswith("arn:"):
            return queue
        # https://sqs.<region>.amazonaws.com/<account>/<name>
        parts = queue.rstrip("/").split("/")
        if len(parts) < 2 or not parts[-2].isdigit():
            raise Untranslatable(f"{queue!r} is not a queue URL")
        return f"arn:{self.partition}:sqs:{self.region}:{parts[-2]}:{parts[-1]}"

    def parameter_arn(self, name: str) -> str:
        return name if name.startswith("arn:") else self.arn("ssm", f"parameter/{name.lstrip('/')}")

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        arn = name if name.startswith("arn:") else self.arn("lambda", f"function:{name}")
        return f"{arn}:{qualifier}" if qualifier else arn

    def secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        for physical in self.physical_ids.values():  # a secret's ARN ends "secret:<name>-<6 random characters>"
            if physical.startswith(f"arn:{self.partition}:secretsmanager:") and re.fullmatch(
                rf".*:secret:{re.escape(secret_id)}-[A-Za-z0-9]{{6}}", physical
            ):
                return physical
        raise Untranslatable(f"secret {secret_id!r} is none of this deployment's secrets")

    def key_arn(self, key_id: str) -> str:
        if key_id.startswith("arn:"):
            return key_id
        for arn in self.audit_keys.values():
            if arn.endswith(f":key/{key_id}"):
                return arn
        raise Untranslatable(f"KMS key {key_id!r} is none of this deployment's keys")


# ---------------------------------------------------------------- a call, as IAM authorises it

_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_ITEM_OPERATIONS = ("GetItem", "PutItem", "DeleteItem", "UpdateItem")
_TABLE_OPERATIONS = ("Scan", "DescribeTable", "DescribeTimeToLive")
_KEY_CONDITION = re.compile(r"(#?[A-Za-z_][\w]*)\s*=\s*(:[\w]+)")


def requests_of(call: Call, deployed: Deployed) -> list[Request]:
    """The IAM requests AWS authorises a recorded call as; raises Untranslatable for a call it cannot name.

    Each request carries dynamodb:LeadingKeys (None when the call touches no item by key, as for a Scan) and
    aws:SecureTransport (the SDK speaks HTTPS).
    """
    service, operation, params = call.service, call.operation, call.params
    try:
        if service == "dynamodb":
            requests = _dynamodb(operation, params, deployed)
        else:
            requests = _other(service, operation, params, deployed)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise Untranslatable(
            f"cannot read the request of {service}:{operation} ({type(error).__name__}: {error})"
        ) from None
    return [
        Request(r.action, r.resource, {LEADING_KEYS: None, "aws:SecureTransport": True, **r.context}) for r in requests
    ]


Translate = Callable[[str, Mapping[str, Any], "Deployed"], list[Request]]


def _sns_publish(action: str, params: Mapping[str, Any], deployed: Deployed) -> list[Request]:
    topic = params.get("TopicArn") or params.get("TargetArn")
    if not topic:
        raise Untranslatable("sns:Publish to a phone number: not a resource Baton grants")
    return [Request(action, topic)]


def _put_events(action: str, params: Mapping[str, Any], deployed: Deployed) -> list[Request]:
    buses = {entry.get("EventBusName") or "default" for entry in params["Entries"]}
    return [
        Request(action, bus if bus.startswith("arn:") else deployed.arn("events", f"event-bus/{bus}"))
        for bus in sorted(buses)
    ]


def _s3_object(action: str, params: Mapping[str, Any], deployed: Deployed) -> list[Request]:
    s3_action = "s3:GetObject" if action == "s3:HeadObject" else action
    return [Request(s3_action, f"arn:{deployed.partition}:s3:::{params['Bucket']}/{params['Key']}")]


def _translations() -> dict[str, Translate]:
    """ "service:Operation" (botocore's names) -> its IAM requests; anything else is Untranslatable."""
    table: dict[str, Translate] = {}

    def add(operations: str, translate: Translate) -> None:
        for operation in operations.split():
            table[operation] = translate

    add("kms:Sign kms:Verify kms:GetPublicKey kms:DescribeKey", lambda a, p, d: [Request(a, d.key_arn(p["KeyId"]))])
    add("sts:AssumeRole", lambda a, p, d: [Request(a, p["RoleArn"])])  # a tool's STS session (baton.credentials)
    add(
        "secretsmanager:GetSecretValue secretsmanager:DescribeSecret",
        lambda a, p, d: [Request(a, d.secret_arn(p["SecretId"]))],
    )
    add(
        "ssm:GetParameter ssm:GetParameters",
        lambda a, p, d: [Request(a, d.parameter_arn(n)) for n in (p.get("Names") or [p["Name"]])],
    )
    add(
        "sqs:SendMessage sqs:SendMessageBatch sqs:ReceiveMessage sqs:DeleteMessage",
        lambda a, p, d: [Request(a, d.queue_arn(p["QueueUrl"]))],
    )
    add("sns:Publish", _sns_publish)
    add("states:StartExecution states:StartSyncExecution", lambda a, p, d: [Request(a, p["stateMachineArn"])])
    add("states:DescribeExecution states:StopExecution", lambda a, p, d: [Request(a, p["executionArn"])])
    # IAM offers no resource for a task token
    add(
        "states:SendTaskSuccess states:SendTaskFailure states:SendTaskHeartbeat", lambda a, p, d: [Request(a, WILDCARD)]
    )
    add(
        "lambda:Invoke",
        lambda a, p, d: [Request("lambda:InvokeFunction", d.function_arn(p["FunctionName"], p.get("Qualifier")))],
    )
    add("events:PutEvents", _put_events)
    add("s3:PutObject s3:GetObject s3:DeleteObject s3:HeadObject", _s3_object)
    add("sts:GetCallerIdentity", lambda a, p, d: [])  # needs no permission
    add("sts:AssumeRole", lambda a, p, d: [Request(a, p["RoleArn"])])
    return table


_TRANSLATIONS = _translations()


def _other(service: str, operation: str, params: Mapping[str, Any], deployed: Deployed) -> list[Request]:
    if service == "bedrock-runtime":
        return _bedrock(operation, params, deployed)
    action = f"{service}:{operation}"
    translate = _TRANSLATIONS.get(action)
    if translate is None:
        raise Untranslatable(f"no IAM translation for {action} (baton.permissions.requests_of)")
    return translate(action, params, deployed)


def _bedrock(operation: str, params: Mapping[str, Any], deployed: Deployed) -> list[Request]:
    from baton.catalog import INFERENCE_PROFILE_PREFIXES

    actions = {
        "Converse": "bedrock:InvokeModel",
        "InvokeModel": "bedrock:InvokeModel",
        "ConverseStream": "bedrock:InvokeModelWithResponseStream",
        "InvokeModelWithResponseStream": "bedrock:InvokeModelWithResponseStream",
    }

    def guardrail(identifier: str) -> Request:
        arn = (
            identifier
            if identifier.startswith("arn:")
            else deployed.resolve(PlatformRef(kind=Platform.BEDROCK_GUARDRAIL, name=identifier), "")
        )
        return Request("bedrock:ApplyGuardrail", arn)

    if operation == "ApplyGuardrail":
        return [guardrail(params["guardrailIdentifier"])]
    action = actions.get(operation)
    if action is None:
        raise Untranslatable(f"no IAM translation for bedrock-runtime:{operation} (baton.permissions.requests_of)")
    model_id = str(params["modelId"])

    def model(kind: str, name: str) -> str:
        return model_arn(kind, name, partition=deployed.partition, region=deployed.region, account=deployed.account)

    if model_id.startswith("arn:"):
        requests = [Request(action, model_id)]
    elif model_id.startswith(INFERENCE_PROFILE_PREFIXES):
        # Bedrock authorises the profile, and the foundation model in the region it routes the call to: the
        # caller's own region here (a system-defined profile's destinations include its source region)
        requests = [
            Request(action, model(INFERENCE_PROFILE, model_id)),
            Request(action, model(FOUNDATION_MODEL, f"{deployed.region}/{model_id.split('.', 1)[1]}")),
        ]
    else:
        requests = [Request(action, model(FOUNDATION_MODEL, model_id))]
    config = params.get("guardrailConfig") or params.get("guardrailIdentifier")
    if isinstance(config, Mapping):
        requests.append(guardrail(config["guardrailIdentifier"]))
    elif isinstance(config, str):
        requests.append(guardrail(config))
    return requests


def _dynamodb(operation: str, params: Mapping[str, Any], deployed: Deployed) -> list[Request]:
    def item(action: str, table: str, leading: Sequence[str] | None) -> Request:
        return Request(action, deployed.table_arn(table), {LEADING_KEYS: None if leading is None else list(leading)})

    if operation in _ITEM_OPERATIONS:
        table = params["TableName"]
        return [item(f"dynamodb:{operation}", table, [_partition_value(deployed, table, params)])]
    if operation == "Query":
        table, index = params["TableName"], params.get("IndexName")
        where = f"{table}/index/{index}" if index else table
        return [item("dynamodb:Query", where, [_queried_value(deployed, where, params)])]
    if operation in _TABLE_OPERATIONS:
        index = params.get("IndexName")
        table = params["TableName"] + (f"/index/{index}" if index else "")
        return [item(f"dynamodb:{operation}", table, None)]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        requests = []
        for table, body in sorted(params["RequestItems"].items()):
            if operation == "BatchGetItem":
                bodies = [{"Key": key} for key in body["Keys"]]
            else:
                bodies = [write.get("PutRequest") or write["DeleteRequest"] for write in body]
            leading = sorted({_partition_value(deployed, table, b) for b in bodies})
            requests.append(item(f"dynamodb:{operation}", table, leading))
        return requests
    if operation in ("TransactWriteItems", "TransactGetItems"):
        # IAM authorises each item of a transaction as its own single-item action
        return [
            item(_TRANSACT_ITEM_ACTIONS[kind], body["TableName"], [_partition_value(deployed, body["TableName"], body)])
            for entry in params["TransactItems"]
            for kind, body in entry.items()
        ]
    raise Untranslatable(f"no IAM translation for dynamodb:{operation} (baton.permissions.requests_of)")


def _partition_key(deployed: Deployed, where: str) -> str:
    name = where.rsplit(":table/", 1)[-1] if where.startswith("arn:") else where
    attribute = deployed.partition_keys.get(name)
    if attribute is None:
        raise Untranslatable(f"table {name!r} is none of this deployment's tables: its partition key is unknown")
    return attribute


def _partition_value(deployed: Deployed, table: str, body: Mapping[str, Any]) -> str:
    item = body["Key"] if "Key" in body else body["Item"]
    (value,) = item[_partition_key(deployed, table)].values()
    return str(value)


def _queried_value(deployed: Deployed, where: str, params: Mapping[str, Any]) -> str:
    wanted = _partition_key(deployed, where)
    if "KeyConditions" in params:
        condition = params["KeyConditions"][wanted]
        (value,) = condition["AttributeValueList"][0].values()
        return str(value)
    names = params.get("ExpressionAttributeNames", {})
    for name, placeholder in _KEY_CONDITION.findall(params["KeyConditionExpression"]):
        if names.get(name, name) == wanted:
            (value,) = params["ExpressionAttributeValues"][placeholder].values()
            return str(value)
    raise Untranslatable(f"no partition key in the query's {params['KeyConditionExpression']!r}")


# ---------------------------------------------------------------- judging


@dataclass(frozen=True)
class StatementUse:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # each reference as a label: "table orders", "state_table", "audit_key refund"
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]
    status: Status
    used_actions: tuple[str, ...]

    @property
    def unused_actions(self) -> tuple[str, ...]:
        return tuple(a for a in self.actions if a not in self.used_actions)

    def as_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "status": self.status,
            "actions": list(self.actions),
            "used_actions": list(self.used_actions),
            "unused_actions": [] if self.status == "runtime" else list(self.unused_actions),
            "resources": list(self.resources),
            "conditions": {op: {k: list(v) for k, v in sorted(c.items())} for op, c in sorted(self.conditions.items())},
        }


@dataclass(frozen=True, order=True)
class Uncovered:
    function: str
    action: str
    resource: str
    leading_keys: tuple[str, ...] | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        leading = None if self.leading_keys is None else list(self.leading_keys)
        return {
            "function": self.function,
            "action": self.action,
            "resource": self.resource,
            LEADING_KEYS: leading,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FunctionReport:
    function: str
    component: Component
    name: str  # the agent, the workflow (an orchestrator's) or "api"
    invoked: bool
    statements: tuple[StatementUse, ...]
    uncovered: tuple[Uncovered, ...]

    @property
    def role(self) -> str:
        return f"{self.component.value} {self.name}"

    def count(self, status: Status) -> int:
        return sum(1 for s in self.statements if s.status == status)

    def as_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "component": self.component.value,
            "name": self.name,
            "invoked": self.invoked,
            "statements": [s.as_json() for s in self.statements],
            "exercised": [s.sid for s in self.statements if s.status == "exercised"],
            "unexercised": [s.sid for s in self.statements if s.status == "unexercised"],
            "unused_actions": sorted(
                f"{s.sid}: {a}" for s in self.statements if s.status == "exercised" for a in s.unused_actions
            ),
            "uncovered": [u.as_json() for u in self.uncovered],
        }


@dataclass(frozen=True)
class RunOutcome:
    workflow: str
    example: str
    status: str


@dataclass(frozen=True)
class Report:
    catalogs: tuple[str, ...]
    runs: tuple[RunOutcome, ...]
    functions: tuple[FunctionReport, ...]
    # the workflows no example runs (their agents' statements cannot be exercised)
    workflows_without_examples: tuple[str, ...] = ()
    # calls of functions with no derived role (none offline: every function is an agent, an orchestrator or the API)
    stray: tuple[Uncovered, ...] = ()

    @property
    def uncovered(self) -> tuple[Uncovered, ...]:
        return tuple(sorted({*(u for f in self.functions for u in f.uncovered), *self.stray}))

    @property
    def ok(self) -> bool:
        return not self.uncovered

    def function(self, component: Component, name: str) -> FunctionReport:
        return next(f for f in self.functions if f.component is component and f.name == name)

    def summary(self) -> dict[str, int]:
        statements = [s for f in self.functions for s in f.statements]
        return {
            "runs": len(self.runs),
            "functions": len(self.functions),
            "statements": len(statements),
            "exercised": sum(1 for s in statements if s.status == "exercised"),
            "unexercised": sum(1 for s in statements if s.status == "unexercised"),
            "runtime": sum(1 for s in statements if s.status == "runtime"),
            "unused_actions": sum(len(s.unused_actions) for s in statements if s.status == "exercised"),
            "uncovered_calls": len(self.uncovered),
        }

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON document: sorted, no timestamps, no run ids (the same on every run)."""
        return {
            "kind": REPORT_KIND,
            "ok": self.ok,
            "catalogs": list(self.catalogs),
            "runs": [{"workflow": r.workflow, "example": r.example, "status": r.status} for r in self.runs],
            "workflows_without_examples": list(self.workflows_without_examples),
            "summary": self.summary(),
            "functions": [f.as_json() for f in self.functions],
            "uncovered": [u.as_json() for u in self.uncovered],
        }


def ref_label(ref: Ref) -> str:
    """A reference as the report names it: deterministic, unlike the offline ARNs (random key ids, secret suffixes)."""
    if isinstance(ref, ResourceRef):
        return f"{ref.kind.value} {ref.name}{ref.suffix}"
    if ref.kind is Platform.ANY:
        return WILDCARD
    return f"{ref.kind.value}{' ' + ref.name if ref.name else ''}{ref.suffix}"


def is_runtime(statement: StatementSpec) -> bool:
    """The function's own logs and traces: Lambda and the X-Ray daemon use them, never the function's code; and a
    starter's trigger queue, which Lambda's event source mapping polls under the function's role (offline, the
    engine drains it in its place)."""
    own = {Platform.OWN_LOG_GROUP, Platform.TRIGGER_QUEUE}
    own_logs = all(isinstance(r, PlatformRef) and r.kind in own for r in statement.resources)
    return own_logs or all(action.startswith("xray:") for action in statement.actions)


def judge_function(
    function: str,
    role: RoleSpec,
    calls: Iterable[Call],
    deployed: Deployed,
    invoked: bool = True,
    mask: Callable[[str], str] = str,
) -> FunctionReport:
    """Each of the role's statements, exercised or not by `calls` (this function's), and each call none allows."""
    rendered = [
        (
            statement,
            {
                "Version": "2012-10-17",
                "Statement": [render_statement(statement, lambda r: deployed.resolve(r, function))],
            },
        )
        for statement in role.statements
    ]
    used: dict[str, set[str]] = {statement.sid: set() for statement in role.statements}
    uncovered: set[Uncovered] = set()
    seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for call in calls:
        try:
            requests = requests_of(call, deployed)
        except Untranslatable as error:
            action = f"{call.service}:{call.operation}"
            uncovered.add(Uncovered(function, action, "?", None, mask(str(error))))
            continue
        for request in requests:
            key = (request.action, request.resource, tuple(sorted((k, repr(v)) for k, v in request.context.items())))
            if key in seen:
                continue
            seen.add(key)
            allowed_by, problem = [], None
            for statement, policy in rendered:
                try:
                    decision = evaluate(policy, request)
                except EvaluationError as error:
                    problem = f"statement {statement.sid} cannot be judged: {error}"
                    continue
                if decision is Decision.ALLOW:
                    allowed_by.append(statement)
            for statement in allowed_by:
                used[statement.sid].update(a for a in statement.actions if a.lower() == request.action.lower())
            if not allowed_by:
                leading = request.context.get(LEADING_KEYS)
                uncovered.add(
                    Uncovered(
                        function,
                        request.action,
                        mask(request.resource),
                        None if not isinstance(leading, list) else tuple(sorted(mask(v) for v in leading)),
                        mask(problem or "no statement of its role allows it"),
                    )
                )
    uses = []
    for statement in role.statements:
        status: Status = "runtime" if is_runtime(statement) else "exercised" if used[statement.sid] else "unexercised"
        uses.append(
            StatementUse(
                sid=statement.sid,
                actions=tuple(sorted(statement.actions)),
                resources=tuple(ref_label(r) for r in statement.resources),
                conditions=statement.conditions,
                status=status,
                used_actions=tuple(sorted(used[statement.sid])),
            )
        )
    return FunctionReport(function, role.component, role.name, invoked, tuple(uses), tuple(sorted(uncovered)))


def judge(
    catalogs: Sequence[str],
    roles: Mapping[str, RoleSpec],
    calls: Iterable[Call],
    deployed: Deployed,
    runs: Sequence[RunOutcome] = (),
    invoked: Iterable[str] | None = None,
    run_ids: Iterable[str] = (),
    workflows_without_examples: Iterable[str] = (),
) -> Report:
    """The report of `calls` against the roles of the functions that made them (`roles`: function name -> role).

    A call by a function `roles` does not name is uncovered. `run_ids` are masked in what the report prints (each
    becomes "<workflow>_<run>"), so a failing report reads the same on every run too.
    """
    masks = {run_id: f"{keys.workflow_of(run_id)}_<run>" for run_id in run_ids}

    def mask(text: str) -> str:
        for run_id, masked in masks.items():
            text = text.replace(run_id, masked)
        return text

    by_function: dict[str, list[Call]] = {}
    for call in calls:
        by_function.setdefault(call.function, []).append(call)
    # a function ran if it was invoked, or made calls (the engine calls the API's code in-process, not through Lambda)
    ran = set(by_function) | set(invoked or ())
    functions = [
        judge_function(name, role, by_function.get(name, ()), deployed, name in ran, mask)
        for name, role in roles.items()
    ]
    stray = tuple(
        sorted(
            {
                Uncovered(name, f"{c.service}:{c.operation}", "?", None, "a function with no derived role made it")
                for name in set(by_function) - set(roles)
                for c in by_function[name]
            }
        )
    )
    functions.sort(key=lambda f: (_COMPONENT_ORDER.get(f.component, 9), f.name, f.function))
    return Report(tuple(catalogs), tuple(runs), tuple(functions), tuple(sorted(workflows_without_examples)), stray)


# ---------------------------------------------------------------- running the declared examples offline


def run_examples(config: AppConfig, examples: Sequence[Example], timeout_seconds: float = 120.0) -> Report:
    """Deploy the app offline, run every example one after the other, and judge every call its functions made."""
    from baton.config import load_app
    from baton.iam import agent_role, api_role, orchestrator_role, starter_role
    from baton.local.engine import AwsCallDetail, LocalEngine
    from baton.local.functions import (
        API_FUNCTION,
        agent_function_name,
        orchestrator_function_name,
        starter_function_name,
    )

    calls: list[Call] = []
    invoked: set[str] = set()

    def record(detail: AwsCallDetail) -> None:
        calls.append(Call(detail.function, detail.service, detail.operation, detail.params))  # list.append: atomic

    def wrap(function: str, handler: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        def run(event: dict[str, Any]) -> Any:
            invoked.add(function)
            return handler(event)

        return run

    app = load_app(config)
    catalog = app.catalog
    runs: list[RunOutcome] = []
    run_ids: list[str] = []
    with LocalEngine(config, wrap_handler=wrap, on_call=record) as engine:
        for example in examples:
            run_id = engine.start(example.workflow, example.run_input)
            run_ids.append(run_id)
            try:
                outcome = engine.wait(
                    run_id, timeout_seconds=timeout_seconds, on_poll=approve_when_held(engine, run_id)
                )
            except TimeoutError:
                raise TimeoutError(
                    f"example {example.label!r} of {example.workflow} did not end within {timeout_seconds:g} s"
                ) from None
            runs.append(RunOutcome(example.workflow, example.label, outcome.status.value))
            # the runs its published events started (the event-driven pattern): their calls are the example's too
            for triggered in engine.wait_triggered(run_id, timeout_seconds):
                run_ids.append(triggered.run_id)
                label = f"{example.label} -> {triggered.workflow}"
                runs.append(RunOutcome(triggered.workflow, label, triggered.status.value))
        deployed = deployed_of(engine)
    roles: dict[str, RoleSpec] = {agent_function_name(a.name): agent_role(catalog, a) for a in catalog.agents.values()}
    roles |= {orchestrator_function_name(w.name): orchestrator_role(catalog, w) for w in catalog.workflows.values()}
    roles[API_FUNCTION] = api_role(catalog)
    roles |= {starter_function_name(w.name): starter_role(w) for w in catalog.workflows.values() if w.triggers}
    return judge(
        config.catalogs,
        roles,
        calls,
        deployed,
        runs=runs,
        invoked=invoked,
        run_ids=run_ids,
        workflows_without_examples=set(catalog.workflows) - {e.workflow for e in examples},
    )


APPROVAL_REASON = "approved by the permissions report's declared run"


def deployed_of(engine: Any) -> Deployed:
    """What a LocalEngine deployed, as the requests' translation names it."""
    from baton.local.engine import ACCOUNT, REGION
    from baton.local.functions import agent_function_name, orchestrator_function_name
    from baton.local.provisioning import STATE_TABLE

    catalog = engine.catalog
    return Deployed(
        region=REGION,
        account=ACCOUNT,
        physical_ids=dict(engine.physical_ids),
        state_table=STATE_TABLE,
        state_machines=dict(engine.state_machines),
        audit_keys=dict(engine.deployment.audit_keys),
        function_names={
            **{f"agent:{a}": agent_function_name(a) for a in catalog.agents},
            **{f"orchestrator:{w}": orchestrator_function_name(w) for w in catalog.workflows},
        },
        partition_keys=partition_keys(catalog, STATE_TABLE),
    )


def approve_when_held(engine: Any, run_id: str) -> Callable[[], None]:
    """Every action an example run holds for a person is approved (through the API, as the workflow's first approver
    role), once the run waits for it: its wait state has stored its task token. Deciding at the same point every time
    keeps the calls the same (a decision taken before the token is stored ends the wait through the orchestrator
    instead of the API's resume, and tells no approver).
    """
    from baton.local.provisioning import STATE_TABLE
    from baton.state import DynamoStateStore

    store = DynamoStateStore(engine.clients.client("dynamodb"), STATE_TABLE)  # the harness's reads: not recorded
    decided: set[str] = set()

    def poll() -> None:
        meta = store.find_meta(run_id)
        token = store.load_task_token(run_id)
        if meta is None or token is None or token.stage != meta.stage:
            return
        for approval in engine.pending_approvals(run_id):
            if approval.approval_id not in decided:
                decided.add(approval.approval_id)
                engine.decide(run_id, "approve", APPROVAL_REASON, approval_id=approval.approval_id)

    return poll


def partition_keys(catalog: Catalog, state_table: str) -> dict[str, str]:
    """Each table's partition key attribute: the catalog's tables (offline, named as the catalog names them), the
    state table and its open-runs index."""
    found = {r.name: str(r.partition_key) for r in catalog.resources.values() if r.kind is ResourceKind.TABLE}
    found[state_table] = "pk"
    found[f"{state_table}/index/{keys.OPEN_RUNS_INDEX}"] = keys.OPEN_WORKFLOW
    return found


# ---------------------------------------------------------------- printing


def table_lines(report: Report) -> list[str]:
    """The report as a table: one row per statement of each function's role (logs and traces summed up below)."""
    rows: list[tuple[str, ...]] = [("role", "statement", "status", "actions used / declared", "resources")]
    for function in report.functions:
        role = function.role + ("" if function.invoked else " (not invoked)")
        for statement in function.statements:
            if statement.status == "runtime":
                continue
            used = ", ".join(statement.used_actions) or "-"
            actions = f"{used} ({len(statement.used_actions)}/{len(statement.actions)})"
            if statement.status == "exercised" and statement.unused_actions:
                actions += f"; unused: {', '.join(statement.unused_actions)}"
            rows.append((role, statement.sid, statement.status, actions, ", ".join(statement.resources)))
            role = ""
        for call in function.uncovered:
            rows.append((role, "-", "UNCOVERED", call.action, call.resource))
            role = ""
        if role:  # a role of logs and traces only
            rows.append((role, "-", "-", "no statement but logs and traces", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4] for row in rows
    ]
    lines = [line.rstrip() for line in lines]
    summary = report.summary()
    runs = ", ".join(
        f"{workflow} {sum(1 for r in report.runs if r.workflow == workflow)}"
        for workflow in sorted({r.workflow for r in report.runs})
    )
    lines += [
        "",
        f"{_count(summary['runs'], 'example run')} ({runs}); {_count(summary['functions'], 'function')}, "
        f"{_count(summary['statements'], 'statement')}:",
        f"  {summary['exercised']} exercised, {summary['unexercised']} unexercised (candidates for removal), "
        f"{summary['runtime']} logs and traces (used by Lambda and X-Ray, not seen offline); "
        f"{_count(summary['unused_actions'], 'unused action')} in exercised statements; "
        f"{_count(summary['uncovered_calls'], 'uncovered call')}",
    ]
    failed = [r for r in report.runs if r.status != "SUCCEEDED"]
    if failed:
        lines.append("runs that did not succeed: " + ", ".join(f"{r.example} ({r.status})" for r in failed))
    idle = [f.role for f in report.functions if not f.invoked]
    if idle:
        lines.append("no example ran (add one that does, or remove them): " + ", ".join(idle))
    if report.workflows_without_examples:
        lines.append("workflows no example runs: " + ", ".join(report.workflows_without_examples))
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def uncovered_lines(report: Report) -> list[str]:
    """One line per uncovered call: what AWS would refuse, and why."""
    roles = {f.function: f.role for f in report.functions}
    lines = []
    for u in report.uncovered:
        keys_part = "" if u.leading_keys is None else f" (dynamodb:LeadingKeys {', '.join(u.leading_keys)})"
        role = roles.get(u.function, u.function)
        lines.append(f"uncovered call: {role} made {u.action} on {u.resource}{keys_part}: {u.reason}")
    return lines
