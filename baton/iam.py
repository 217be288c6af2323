"""IAM derived from the catalog: the statements of every role Baton deploys, and nothing else.

Pure data, no CDK: the CDK app turns each `StatementSpec` into an `iam.PolicyStatement` through a resolver
of references to ARNs; the tests and a future `baton inventory` render the same specs to policy JSON.

Roles (one each):
  agent          its tools' grants (ToolSpec.all_grants(): exact actions, the resource's ARN plus the
                 reference's suffix, declared conditions), its own log group, traces; a model-backed agent's
                 also bedrock:InvokeModel on exactly its declared model and bedrock:ApplyGuardrail on its
                 guardrail (baton.model_iam). Nothing on the state table: the state machine hands it its
                 task and records its report.
  orchestrator   one per workflow: read that workflow's runs, start requests, tasks and journal; write its
                 runs and tasks (dynamodb:LeadingKeys, patterns from baton.keys); sign audit heads with
                 that workflow's KMS key; an Express workflow's also queries its open runs in the sparse
                 open-runs index (to sweep those its executions left behind); a workflow whose injection
                 detector is a Bedrock guardrail, bedrock:ApplyGuardrail on it (baton.model_iam); a workflow
                 with approvals, its approvals and task tokens (APPROVAL#) and sqs:SendMessage / sns:Publish
                 on the queue or topic its approvals notify; logs, traces.
  api            create start requests and idempotency items of the workflows it serves, read their runs,
                 start their executions; for the workflows with approvals, decide their approvals (a
                 conditional PutItem on APPROVAL#) and resume their runs (states:SendTaskSuccess, which IAM
                 cannot scope to a resource); logs, traces.
  state machine  one per workflow: invoke exactly that workflow's orchestrator and agent functions, read
                 its tasks, record its journal; deliver its logs, send traces.
  archiver       copy audit records from the state table's stream into the Object Lock archive bucket.

Every resource the catalog declares is encrypted with an AWS managed key (aws/dynamodb,
aws/secretsmanager, aws/sns) or the service's own key (SQS): those key policies authorise use through the
service for principals of the account, so no kms statement is derived. A resource on a customer managed key
would add its kms actions here, derived by the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton import keys
from baton.catalog import AgentSpec, Catalog, Grant, PeerTrust, ResourceKind, ResourceRef, WorkflowSpec


class Platform(StrEnum):
    """Resources Baton itself deploys (the catalog's resources are `ResourceRef`s)."""

    STATE_TABLE = "state_table"
    AGENT_FUNCTION = "agent_function"  # name: the agent
    ORCHESTRATOR_FUNCTION = "orchestrator_function"  # name: the workflow
    STATE_MACHINE = "state_machine"  # name: the workflow
    # a workflow's executions (name: the workflow): what a parent's `.sync:2` describes and stops of its children
    STATE_MACHINE_EXECUTIONS = "state_machine_executions"
    # the rule Step Functions manages for `.sync` integrations (StepFunctionsGetEventsForStepFunctionsExecutionRule)
    SYNC_EVENTS_RULE = "sync_events_rule"
    AUDIT_KEY = "audit_key"  # name: the workflow (one signing key per workflow)
    STATE_TABLE_STREAM = "state_table_stream"
    ARCHIVE_BUCKET = "archive_bucket"
    ARCHIVE_FAILURES = "archive_failures"  # the archiver's on-failure queue
    OWN_LOG_GROUP = "own_log_group"  # the log group of the function whose role this is
    # a Bedrock model (baton.model_iam: kinds, names and ARNs): name "<model id>" (the stack's region) or
    # "<region>/<model id>"; an inference profile's id (the stack's region and account); a guardrail's id
    BEDROCK_FOUNDATION_MODEL = "bedrock_foundation_model"
    BEDROCK_INFERENCE_PROFILE = "bedrock_inference_profile"
    BEDROCK_GUARDRAIL = "bedrock_guardrail"
    # the role a tool's STS session assumes (baton.credentials): name the tool; its ARN is built from its name
    SESSION_ROLE = "session_role"
    # another account's role a peer tool assumes (the federated pattern): name is the role's ARN, as declared
    PEER_ROLE = "peer_role"
    # the event-driven pattern (baton.triggers): a subscribing workflow's trigger queue; name: the workflow
    TRIGGER_QUEUE = "trigger_queue"
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
    ARCHIVER = "archiver"
    SESSION = "session"  # a tool's session role, assumed by its agents' roles (not a function's role)
    STARTER = "starter"  # a subscribing workflow's starter function (baton.triggers): name: the workflow


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
LIST_STREAMS_REASON = "dynamodb:ListStreams supports no resource-level permissions (the Lambda stream poller calls it)"
SEND_TASK_REASON = (
    "states:SendTaskSuccess supports no resource-level permissions (IAM has no resource type for it): a task token "
    "names its execution, and the API reads one only from APPROVAL#<workflow>_* items of the workflows it serves"
)
XRAY_REASON = "X-Ray trace segments and telemetry cannot be scoped to a resource (the X-Ray API has no resource ARNs)"
LOG_DELIVERY_REASON = (
    "Step Functions log delivery (CloudWatch Logs vended-log delivery and resource policy actions) "
    "supports no resource-level permissions"
)


def pascal(name: str) -> str:
    """A catalog name as logical ids and Sids want it: order_lookup -> OrderLookup, relay-express -> RelayExpress."""
    return "".join(part.capitalize() for part in re.split(r"[_-]", name))


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
                sid=f"Tool{pascal(tool.name)}{index}",
                actions=tuple(sorted(set(grant.actions))),
                resources=(grant.resource,),
                conditions=grant.conditions,
            )
    return tuple(seen.values())


def _grant_key(grant: Grant) -> tuple[tuple[str, ...], ResourceRef, str]:
    conditions = repr(sorted((op, sorted(values.items())) for op, values in grant.conditions.items()))
    return tuple(sorted(set(grant.actions))), grant.resource, conditions


def agent_role(catalog: Catalog, agent: AgentSpec) -> RoleSpec:
    """Its tools' grants; a model-backed agent's also bedrock:InvokeModel on exactly its model (and its guardrail)."""
    from baton.model_iam import model_statements

    model = () if agent.model is None else model_statements(agent.model, "Agent")
    return RoleSpec(
        component=Component.AGENT,
        name=agent.name,
        statements=(
            *tool_statements(catalog, agent),
            *assume_session_statements(catalog, agent),
            *assume_peer_statements(catalog, agent),
            *model,
            _function_logs(),
            _function_tracing(),
        ),
    )


def assume_session_statements(catalog: Catalog, agent: AgentSpec) -> tuple[StatementSpec, ...]:
    """sts:AssumeRole on exactly the session role of each of the agent's tools that declares a session."""
    return tuple(
        StatementSpec(
            sid=f"AssumeSession{pascal(tool.name)}",
            actions=("sts:AssumeRole",),
            resources=(PlatformRef(kind=Platform.SESSION_ROLE, name=tool.name),),
        )
        for tool in catalog.tools_of(agent)
        if tool.session is not None
    )


def assume_peer_statements(catalog: Catalog, agent: AgentSpec) -> tuple[StatementSpec, ...]:
    """sts:AssumeRole on exactly the cross-account role each of the agent's peer tools declares (the federated
    pattern); the peer's trust policy decides, with its sts:ExternalId condition (`peer_trust_policy`)."""
    return tuple(
        StatementSpec(
            sid=f"AssumePeer{pascal(tool.name)}",
            actions=("sts:AssumeRole",),
            resources=(PlatformRef(kind=Platform.PEER_ROLE, name=tool.peer.role_arn),),
        )
        for tool in catalog.tools_of(agent)
        if tool.peer is not None
    )


def peer_trust_policy(trust: PeerTrust) -> dict[str, Any]:
    """The trust policy of a workflow's cross-account role: exactly the declared principals, with sts:AssumeRole
    only and only with the declared external id."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(trust.principals))},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": trust.external_id}},
            }
        ],
    }


def peer_role_policy(workflow: str, execute_api_arn: Callable[[str, str], str]) -> dict[str, Any]:
    """The permissions of a workflow's cross-account role (`PeerTrust`): start that workflow's runs and read them
    through the API (execute-api:Invoke on exactly those two routes; a run's id starts with its workflow's name),
    nothing else. `execute_api_arn(method, path)`: the route's ARN on the deployed API's stage."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PeerStartsAndReadsRuns",
                "Effect": "Allow",
                "Action": "execute-api:Invoke",
                "Resource": [
                    execute_api_arn("POST", f"/workflows/{workflow}/runs"),
                    execute_api_arn("GET", f"/runs/{workflow}_*"),
                ],
            }
        ],
    }


def session_role(catalog: Catalog, tool_name: str) -> RoleSpec:
    """The role a tool's STS session assumes: exactly its declared session grant. Each session narrows it further
    with a session policy (baton.credentials.session_policy); its trust policy (`session_trust_policy`) admits the
    roles of the agents declaring the tool, nothing else."""
    tool = catalog.tools[tool_name]
    if tool.session is None:
        raise ValueError(f"tool {tool_name!r} declares no session")
    grant = tool.session
    return RoleSpec(
        component=Component.SESSION,
        name=tool.name,
        statements=(
            StatementSpec(
                sid=f"Session{pascal(tool.name)}",
                actions=tuple(sorted(set(grant.actions))),
                resources=(grant.resource,),
            ),
        ),
    )


def session_roles(catalog: Catalog) -> tuple[RoleSpec, ...]:
    return tuple(session_role(catalog, name) for name, tool in catalog.tools.items() if tool.session is not None)


def session_trust_policy(agent_role_arns: Iterable[str]) -> dict[str, Any]:
    """Who may assume a session role: the named agent roles, with sts:AssumeRole only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(agent_role_arns))},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def session_role_name(stack_name: str, tool_name: str) -> str:
    """The session role's name (IAM: at most 64 characters): known before the role exists, so that the agent's
    role can name it without depending on it (its trust policy depends on the agent's role)."""
    suffix = f"-session-{tool_name.replace('_', '-')}"
    return f"{stack_name[: 64 - len(suffix)]}{suffix}"


def orchestrator_role(catalog: Catalog, workflow: WorkflowSpec) -> RoleSpec:
    from baton.model_iam import detector_statements, model_statements  # a model planner's, a guardrail detector's

    del catalog  # the orchestrator's access does not depend on the workflow's agents
    name = workflow.name
    # a workflow with approvals: its approvals and task tokens (APPROVAL#<run_id>) are the orchestrator's too
    approvals = (keys.approval_items(name),) if workflow.approvals is not None else ()
    return RoleSpec(
        component=Component.ORCHESTRATOR,
        name=name,
        statements=(
            StatementSpec(
                sid="ReadRuns",
                actions=("dynamodb:GetItem", "dynamodb:Query"),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(
                    keys.run_items(name),
                    keys.start_items(name),
                    keys.task_items(name),
                    keys.journal_items(name),
                    *approvals,
                ),
            ),
            # TransactWriteItems is authorised per item, as PutItem
            StatementSpec(
                sid="WriteRuns",
                actions=("dynamodb:BatchWriteItem", "dynamodb:PutItem"),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(keys.run_items(name), keys.task_items(name), *approvals),
            ),
            *_notify_statements(workflow),
            StatementSpec(
                sid="SignAuditHeads",
                actions=("kms:Sign",),
                resources=(PlatformRef(kind=Platform.AUDIT_KEY, name=name),),
            ),
            *_sweep_statements(workflow),
            *_child_run_statements(workflow),
            *(() if workflow.planner_model is None else model_statements(workflow.planner_model, "Planner")),
            *detector_statements(workflow),  # an injection detector on a Bedrock guardrail: ApplyGuardrail on it
            _function_logs(),
            _function_tracing(),
        ),
    )


def _child_run_statements(workflow: WorkflowSpec) -> tuple[StatementSpec, ...]:
    """A parent's orchestrator writes its child runs' start requests and reads their run records (baton.children):
    of its declared child workflows only."""
    if not workflow.children:
        return ()
    return (
        StatementSpec(
            sid="StartChildRuns",
            actions=("dynamodb:PutItem",),
            resources=(STATE_TABLE,),
            conditions=_leading_keys(*(keys.start_items(child) for child in workflow.children)),
        ),
        StatementSpec(
            sid="ReadChildRuns",
            actions=("dynamodb:GetItem",),
            resources=(STATE_TABLE,),
            conditions=_leading_keys(*(keys.run_items(child) for child in workflow.children)),
        ),
    )


def _child_execution_statements(workflow: WorkflowSpec) -> tuple[StatementSpec, ...]:
    """`states:startExecution.sync:2` on exactly the declared child workflows: start their executions, describe and
    stop them, and the managed rule through which Step Functions learns that one ended."""
    if not workflow.children:
        return ()
    machines = tuple(PlatformRef(kind=Platform.STATE_MACHINE, name=child) for child in workflow.children)
    executions = tuple(
        PlatformRef(kind=Platform.STATE_MACHINE_EXECUTIONS, name=child, suffix=":*") for child in workflow.children
    )
    return (
        StatementSpec(sid="StartChildExecutions", actions=("states:StartExecution",), resources=machines),
        StatementSpec(
            sid="WatchChildExecutions",
            actions=("states:DescribeExecution", "states:StopExecution"),
            resources=executions,
        ),
        StatementSpec(
            sid="ChildExecutionEvents",
            actions=("events:DescribeRule", "events:PutRule", "events:PutTargets"),
            resources=(PlatformRef(kind=Platform.SYNC_EVENTS_RULE),),
        ),
    )


def _notify_statements(workflow: WorkflowSpec) -> tuple[StatementSpec, ...]:
    """The orchestrator tells approvers through the queue or topic its workflow's approvals declare."""
    target = workflow.approvals.notify if workflow.approvals is not None else None
    if target is None:
        return ()
    action = "sqs:SendMessage" if target.kind is ResourceKind.QUEUE else "sns:Publish"
    return (StatementSpec(sid="NotifyApprovers", actions=(action,), resources=(target,)),)


def _sweep_statements(workflow: WorkflowSpec) -> tuple[StatementSpec, ...]:
    """An Express workflow's orchestrator finds its own open runs past their deadline (the sparse index's key)."""
    if workflow.execution != "express":
        return ()
    return (
        StatementSpec(
            sid="SweepOpenRuns",
            actions=("dynamodb:Query",),
            resources=(STATE_TABLE.model_copy(update={"suffix": f"/index/{keys.OPEN_RUNS_INDEX}"}),),
            conditions=_leading_keys(workflow.name),
        ),
    )


def api_role(catalog: Catalog, workflows: Iterable[WorkflowSpec] | None = None) -> RoleSpec:
    served = tuple(catalog.workflows.values()) if workflows is None else tuple(workflows)
    names = [w.name for w in served]
    approving = [w.name for w in served if w.approvals is not None]
    return RoleSpec(
        component=Component.API,
        name="api",
        statements=(
            # a start request and its idempotency item are written in one transaction, authorised as PutItem
            StatementSpec(
                sid="RequestRuns",
                actions=("dynamodb:PutItem",),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(
                    *(keys.start_items(n) for n in names), *(keys.idempotency_items(n) for n in names)
                ),
            ),
            StatementSpec(
                sid="ReadRuns",
                actions=("dynamodb:GetItem", "dynamodb:Query"),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(
                    *(keys.run_items(n) for n in names),
                    *(keys.start_items(n) for n in names),
                    *(keys.idempotency_items(n) for n in names),
                    *(keys.approval_items(n) for n in approving),
                ),
            ),
            StatementSpec(
                sid="StartRuns",
                actions=("states:StartExecution",),
                resources=tuple(PlatformRef(kind=Platform.STATE_MACHINE, name=n) for n in names),
            ),
            *_decide_statements(approving),
            _function_logs(),
            _function_tracing(),
        ),
    )


def _decide_statements(approving: list[str]) -> tuple[StatementSpec, ...]:
    """The API decides pending approvals (a conditional write) of the workflows that declare approvals, and resumes
    their runs with the task token it reads beside them."""
    if not approving:
        return ()
    return (
        StatementSpec(
            sid="DecideApprovals",
            actions=("dynamodb:PutItem",),
            resources=(STATE_TABLE,),
            conditions=_leading_keys(*(keys.approval_items(n) for n in approving)),
        ),
        StatementSpec(
            sid="ResumeRuns",
            actions=("states:SendTaskSuccess",),
            resources=(ANY,),
            wildcard_reason=SEND_TASK_REASON,
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
                sid="ReadTasks",
                actions=("dynamodb:GetItem",),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(keys.task_items(workflow.name)),
            ),
            StatementSpec(
                sid="RecordAttempts",
                actions=("dynamodb:PutItem",),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(keys.journal_items(workflow.name)),
            ),
            *_child_execution_statements(workflow),
            StatementSpec(
                sid="LogDelivery",
                actions=STATES_LOG_DELIVERY_ACTIONS,
                resources=(ANY,),
                wildcard_reason=LOG_DELIVERY_REASON,
            ),
            StatementSpec(sid="Tracing", actions=STATES_XRAY_ACTIONS, resources=(ANY,), wildcard_reason=XRAY_REASON),
        ),
    )


def archiver_role() -> RoleSpec:
    return RoleSpec(
        component=Component.ARCHIVER,
        name="archiver",
        statements=(
            StatementSpec(
                sid="ReadStateStream",
                actions=("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"),
                resources=(PlatformRef(kind=Platform.STATE_TABLE_STREAM),),
            ),
            StatementSpec(
                sid="ListStreams",
                actions=("dynamodb:ListStreams",),
                resources=(ANY,),
                wildcard_reason=LIST_STREAMS_REASON,
            ),
            StatementSpec(
                sid="ReportArchiveFailures",
                actions=("sqs:SendMessage",),
                resources=(PlatformRef(kind=Platform.ARCHIVE_FAILURES),),
            ),
            StatementSpec(
                sid="ArchiveAuditRecords",
                actions=("s3:PutObject",),
                resources=(PlatformRef(kind=Platform.ARCHIVE_BUCKET, suffix=f"/{keys.AUDIT_ARCHIVE_PREFIX}*"),),
            ),
            _function_logs(),
            _function_tracing(),
        ),
    )


def all_roles(catalog: Catalog) -> tuple[RoleSpec, ...]:
    """Every role of a deployment of the catalog."""
    roles = [agent_role(catalog, agent) for agent in catalog.agents.values()]
    for workflow in catalog.workflows.values():
        roles += [orchestrator_role(catalog, workflow), state_machine_role(catalog, workflow)]
    roles += [api_role(catalog), archiver_role()]
    roles += [starter_role(workflow) for workflow in catalog.workflows.values() if workflow.triggers]
    return tuple(roles)


def starter_role(workflow: WorkflowSpec) -> RoleSpec:
    """A subscribing workflow's starter (baton.triggers): consume its own trigger queue, and start its runs exactly
    as the API does (a start request under START#<workflow>_*, the execution of its own state machine)."""
    return RoleSpec(
        component=Component.STARTER,
        name=workflow.name,
        statements=(
            StatementSpec(
                sid="ConsumeTriggerQueue",
                actions=(
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ),
                resources=(PlatformRef(kind=Platform.TRIGGER_QUEUE, name=workflow.name),),
            ),
            StatementSpec(
                sid="RequestRuns",
                actions=("dynamodb:PutItem",),
                resources=(STATE_TABLE,),
                conditions=_leading_keys(keys.start_items(workflow.name)),
            ),
            StatementSpec(
                sid="StartRuns",
                actions=("states:StartExecution",),
                resources=(PlatformRef(kind=Platform.STATE_MACHINE, name=workflow.name),),
            ),
            _function_logs(),
            _function_tracing(),
        ),
    )


# API operations IAM authorises as other actions: a transaction is authorised per item (Baton's are all puts);
# Bedrock Runtime's endpoint prefix is not its IAM prefix, and Converse is authorised as InvokeModel
_AUTHORISED_AS = {
    ("dynamodb", "TransactWriteItems"): ("dynamodb:PutItem",),
    ("bedrock-runtime", "Converse"): ("bedrock:InvokeModel",),
    ("bedrock-runtime", "ApplyGuardrail"): ("bedrock:ApplyGuardrail",),
}


def iam_actions_of_call(service: str, operation: str) -> tuple[str, ...]:
    """The IAM actions an AWS API call needs (botocore's service prefix and operation name in)."""
    return _AUTHORISED_AS.get((service, operation), (f"{service}:{operation}",))


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
