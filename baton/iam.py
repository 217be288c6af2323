"""IAM derived from the catalog: the statements of every role Baton deploys, and nothing else.

Pure data, no CDK: the CDK app turns each `StatementSpec` into an `iam.PolicyStatement` through a resolver
of references to ARNs; the tests and a future `baton inventory` render the same specs to policy JSON.

Roles (one each):
  agent          its tools' grants (ToolSpec.all_grants(): exact actions, the resource's ARN plus the
                 reference's suffix, declared conditions), plus the agent runtime's platform access:
                 read its own TASK#<agent># items, append its own JOURNAL#<agent># items, write its own log
                 group, send traces.
  orchestrator   one per workflow: read and write run state in the state table, logs, traces.
  api            read the state table, create run records (a transaction of PutItems), start executions
                 of its workflows' state machines, logs, traces.
  state machine  one per workflow: invoke exactly that workflow's orchestrator and agent functions,
                 record failed tasks as FAILURE# items, deliver its logs, send traces.

Every resource the catalog declares is encrypted with an AWS managed key (aws/dynamodb,
aws/secretsmanager, aws/sns) or the service's own key (SQS): those key policies authorise use through the
service for principals of the account, so no kms statement is derived. A resource on a customer managed key
would add its kms actions here, derived by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton.catalog import AgentSpec, Catalog, Grant, ResourceRef, WorkflowSpec
from baton.state import FAILURE_KEY_PATTERN, agent_key_patterns


class Platform(StrEnum):
    """Resources Baton itself deploys (the catalog's resources are `ResourceRef`s)."""

    STATE_TABLE = "state_table"
    AGENT_FUNCTION = "agent_function"  # name: the agent
    ORCHESTRATOR_FUNCTION = "orchestrator_function"  # name: the workflow
    STATE_MACHINE = "state_machine"  # name: the workflow
    OWN_LOG_GROUP = "own_log_group"  # the log group of the function whose role this is
    ANY = "any"  # "*": only where AWS offers no resource-level permission (see `wildcard_reason`)


class PlatformRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Platform
    name: str = ""
    suffix: str = ""


Ref = ResourceRef | PlatformRef

WILDCARD = "*"
LEADING_KEYS = "dynamodb:LeadingKeys"


class StatementSpec(BaseModel):
    """One Allow statement: exact actions on exact resources, with optional conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sid: str = Field(pattern=r"^[A-Za-z0-9]+$")
    actions: tuple[str, ...] = Field(min_length=1)
    resources: tuple[Ref, ...] = Field(min_length=1)
    conditions: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)
    # set exactly when the resource is "*": why AWS requires it
    wildcard_reason: str | None = None


class Component(StrEnum):
    AGENT = "agent"
    ORCHESTRATOR = "orchestrator"
    API = "api"
    STATE_MACHINE = "state_machine"


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    component: Component
    name: str  # the agent or workflow it serves ("api" for the api)
    statements: tuple[StatementSpec, ...]


# ---------------------------------------------------------------- shared pieces

STATE_TABLE = PlatformRef(kind=Platform.STATE_TABLE)
ANY = PlatformRef(kind=Platform.ANY)

LAMBDA_XRAY_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
STATES_XRAY_ACTIONS = (
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)
# what Step Functions needs to deliver execution logs to CloudWatch Logs (vended logs)
STATES_LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)
XRAY_REASON = "X-Ray trace segments and telemetry cannot be scoped to a resource (the X-Ray API has no resource ARNs)"
LOG_DELIVERY_REASON = (
    "Step Functions log delivery (CloudWatch Logs vended-log delivery and resource policy actions) "
    "supports no resource-level permissions"
)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _leading_keys(*prefixes: str) -> dict[str, dict[str, tuple[str, ...]]]:
    return {"ForAllValues:StringLike": {LEADING_KEYS: prefixes}}


def _function_logs() -> StatementSpec:
    return StatementSpec(
        sid="WriteOwnLogs",
        actions=("logs:CreateLogStream", "logs:PutLogEvents"),
        resources=(PlatformRef(kind=Platform.OWN_LOG_GROUP),),
    )


def _function_tracing() -> StatementSpec:
    return StatementSpec(sid="Tracing", actions=LAMBDA_XRAY_ACTIONS, resources=(ANY,), wildcard_reason=XRAY_REASON)


# ---------------------------------------------------------------- per component


def tool_statements(catalog: Catalog, agent: AgentSpec) -> tuple[StatementSpec, ...]:
    """One statement per distinct grant of the agent's tools (declared grants and those implied by secrets)."""
    seen: dict[tuple[tuple[str, ...], ResourceRef, str], StatementSpec] = {}
    for tool in catalog.tools_of(agent):
        for index, grant in enumerate(tool.all_grants()):
            key = _grant_key(grant)
            if key in seen:
                continue
            seen[key] = StatementSpec(
                sid=f"Tool{_pascal(tool.name)}{index}",
                actions=tuple(sorted(set(grant.actions))),
                resources=(grant.resource,),
                conditions=grant.conditions,
            )
    return tuple(seen.values())


def _grant_key(grant: Grant) -> tuple[tuple[str, ...], ResourceRef, str]:
    conditions = repr(sorted((op, sorted(values.items())) for op, values in grant.conditions.items()))
    return tuple(sorted(set(grant.actions))), grant.resource, conditions


def agent_role(catalog: Catalog, agent: AgentSpec) -> RoleSpec:
    own_tasks, own_journal = agent_key_patterns(agent.name)
    platform = (
        StatementSpec(
            sid="ReadOwnTasks",
            actions=("dynamodb:GetItem",),
            resources=(STATE_TABLE,),
            conditions=_leading_keys(own_tasks),
        ),
        StatementSpec(
            sid="AppendOwnJournal",
            actions=("dynamodb:PutItem",),
            resources=(STATE_TABLE,),
            conditions=_leading_keys(own_journal),
        ),
        _function_logs(),
        _function_tracing(),
    )
    return RoleSpec(component=Component.AGENT, name=agent.name, statements=tool_statements(catalog, agent) + platform)


def orchestrator_role(catalog: Catalog, workflow: WorkflowSpec) -> RoleSpec:
    del catalog  # the orchestrator's access does not depend on the workflow's agents
    return RoleSpec(
        component=Component.ORCHESTRATOR,
        name=workflow.name,
        statements=(
            # TransactWriteItems is authorised per item, as PutItem
            StatementSpec(
                sid="RunState",
                actions=("dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
                resources=(STATE_TABLE,),
            ),
            _function_logs(),
            _function_tracing(),
        ),
    )


def api_role(catalog: Catalog, workflows: Iterable[WorkflowSpec] | None = None) -> RoleSpec:
    served = tuple(catalog.workflows.values()) if workflows is None else tuple(workflows)
    return RoleSpec(
        component=Component.API,
        name="api",
        statements=(
            # run records are created in a transaction, authorised per item as PutItem
            StatementSpec(
                sid="RunRecords",
                actions=("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
                resources=(STATE_TABLE,),
            ),
            StatementSpec(
                sid="StartRuns",
                actions=("states:StartExecution",),
                resources=tuple(PlatformRef(kind=Platform.STATE_MACHINE, name=w.name) for w in served),
            ),
            _function_logs(),
            _function_tracing(),
        ),
    )


def state_machine_role(catalog: Catalog, workflow: WorkflowSpec) -> RoleSpec:
    functions = [PlatformRef(kind=Platform.ORCHESTRATOR_FUNCTION, name=workflow.name)]
    functions += [PlatformRef(kind=Platform.AGENT_FUNCTION, name=catalog.agent(a).name) for a in workflow.agents]
    # the function itself and its qualified versions and aliases
    invoked = tuple(ref.model_copy(update={"suffix": suffix}) for ref in functions for suffix in ("", ":*"))
    return RoleSpec(
        component=Component.STATE_MACHINE,
        name=workflow.name,
        statements=(
            StatementSpec(sid="InvokeWorkflowFunctions", actions=("lambda:InvokeFunction",), resources=invoked),
            StatementSpec(
                sid="RecordFailedTasks",
                actions=("dynamodb:PutItem",),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(FAILURE_KEY_PATTERN),
            ),
            StatementSpec(
                sid="LogDelivery",
                actions=STATES_LOG_DELIVERY_ACTIONS,
                resources=(ANY,),
                wildcard_reason=LOG_DELIVERY_REASON,
            ),
            StatementSpec(sid="Tracing", actions=STATES_XRAY_ACTIONS, resources=(ANY,), wildcard_reason=XRAY_REASON),
        ),
    )


def all_roles(catalog: Catalog) -> tuple[RoleSpec, ...]:
    """Every role of a deployment of the catalog."""
    roles = [agent_role(catalog, agent) for agent in catalog.agents.values()]
    for workflow in catalog.workflows.values():
        roles += [orchestrator_role(catalog, workflow), state_machine_role(catalog, workflow)]
    roles.append(api_role(catalog))
    return tuple(roles)


# ---------------------------------------------------------------- rendering

Resolver = Callable[[Ref], Any]


def resolve_with_suffix(ref: Ref, base: Any) -> Any:
    """Append a reference's suffix to a resolved ARN (a plain string here; CDK tokens are strings too)."""
    if not ref.suffix:
        return base
    if isinstance(base, str):
        return base + ref.suffix
    raise TypeError(f"cannot append suffix {ref.suffix!r} to {base!r}")


def render_statement(statement: StatementSpec, resolve: Resolver) -> dict[str, Any]:
    """The IAM policy JSON of one statement; `resolve` maps each reference (without its suffix) to an ARN."""
    resources = [
        WILDCARD
        if isinstance(ref, PlatformRef) and ref.kind is Platform.ANY
        else resolve_with_suffix(ref, resolve(ref.model_copy(update={"suffix": ""})))
        for ref in statement.resources
    ]
    rendered: dict[str, Any] = {
        "Sid": statement.sid,
        "Effect": "Allow",
        "Action": list(statement.actions),
        "Resource": resources,
    }
    if statement.conditions:
        rendered["Condition"] = {
            operator: {key: list(values) for key, values in keys.items()}
            for operator, keys in statement.conditions.items()
        }
    return rendered


def render_policy(role: RoleSpec, resolve: Resolver) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [render_statement(s, resolve) for s in role.statements]}
