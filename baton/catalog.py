"""The catalog: the single source of truth for resources, tools, agents and workflows.

Infrastructure derives IAM from it, the runtime enforces it, the inventory reports it. Everything here is
plain data (pydantic models); implementations are referenced by dotted path so that the CDK app can read
the catalog without importing agent code.
"""

# No `from __future__ import annotations` here: pydantic would then evaluate every field annotation from its string
# (a compile and an eval each: about 1.5 ms of a cold start per 30 models); forward references are quoted.

import importlib
import importlib.util
import os
from collections import Counter
from collections.abc import Collection, Iterator
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Patterns spell ASCII classes ([0-9], [A-Za-z0-9_]), never \d or \w: pydantic-core compiles them with Rust's regex,
# where both are Unicode classes, so they are slow to build at each cold start (0.3-2 ms a pattern) and too wide for
# names and identifiers that end in AWS (an account id in Arabic-Indic digits would match \d{12}).
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
# Workflow names end up in AWS resource names, run ids and IAM key patterns: lowercase letters, digits and
# hyphens only (never "_", which separates the workflow from the rest of a run id).
WORKFLOW_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
WorkflowName = Annotated[str, Field(pattern=WORKFLOW_NAME_PATTERN)]
# An egress destination: "host", "host:port", or "http://host[:port]" where a tool must use plain HTTP
EGRESS_PATTERN = r"^(https?://)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$"
EgressDestination = Annotated[str, Field(pattern=EGRESS_PATTERN)]
# Step Functions carries an agent's journal entry (its output included) in a 256 KB payload
MAX_AGENT_OUTPUT_BYTES = 200_000
# "module.path:attribute"
DottedPath = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")]
# an IAM role: an approver, a reader, a peer's trusted principal or the role a peer call assumes
RoleArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$")]


class CatalogError(ValueError):
    """A catalog that contradicts itself. The message names every culprit."""


class _Spec(BaseModel):
    # defer_build: validators are built when a catalog is first built, not when this module is imported
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True)


class ResourceKind(StrEnum):
    TABLE = "table"
    SECRET = "secret"  # noqa: S105 (a resource kind, not a password)
    QUEUE = "queue"
    TOPIC = "topic"
    PARAMETER = "parameter"
    # an EventBridge event bus: agents publish to it (events:PutEvents), workflows' triggers subscribe to it
    EVENT_BUS = "event_bus"


class ResourceSpec(_Spec):
    """An AWS resource the catalog owns; CDK creates it, the offline engine creates it in moto."""

    kind: ResourceKind
    name: Name
    description: str
    # table only: key schema
    partition_key: str | None = None
    sort_key: str | None = None
    # secret only: a Lambda function ARN that rotates it (rotation schedule is added when set)
    rotation_function_arn: str | None = None
    # secret only: rotate every this many days (with rotation_function_arn; 30 when that is set alone)
    rotation_days: int | None = Field(default=None, ge=1, le=1000)
    # parameter only: the value it is created with
    value: str | None = None
    # data anyone may read (the Rule of Two counts reading any other resource as reading sensitive data)
    public: bool = False


class ResourceRef(_Spec):
    """A reference to a catalog resource that CDK resolves to an ARN.

    `suffix` extends the ARN (for example "/index/*" for a table's indexes).
    """

    kind: ResourceKind
    name: Name
    suffix: str = ""


class Grant(_Spec):
    """An IAM grant a tool needs: exact actions on one catalog resource, with optional conditions."""

    actions: tuple[str, ...] = Field(min_length=1)
    resource: ResourceRef
    conditions: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _no_wildcards(cls, actions: tuple[str, ...]) -> tuple[str, ...]:
        for action in actions:
            service, _, operation = action.partition(":")
            if not service or not operation or "*" in action:
                raise ValueError(f"IAM action {action!r} must be an exact 'service:Operation'")
        return actions


# an OAuth 2.0 scope: space-separated scope tokens (RFC 6749 section 3.3: %x21 / %x23-5B / %x5D-7E)
OAUTH_SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$"
# a token endpoint: https (or http for a declared plain-http egress), a lowercase host, optional port and path
TOKEN_URL_PATTERN = r"^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"  # noqa: S105 (a URL pattern)


class OAuthClientCredentials(_Spec):
    """An OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) a tool's HTTP calls authenticate with.

    `secret` is a secret resource (among the tool's `secrets`) holding `{"client_id": ..., "client_secret": ...}`;
    the token endpoint's origin must be in the tool's `egress`. The credentials broker (baton.credentials) exchanges
    them for an access token through the tool's egress, caches it until `refresh_skew_seconds` before it expires,
    and hands the tool the token only (`ToolContext.access_token()`): the tool body may not read the secret itself.
    """

    token_url: Annotated[str, Field(pattern=TOKEN_URL_PATTERN, max_length=2000)]
    secret: Name
    scope: Annotated[str, Field(pattern=OAUTH_SCOPE_PATTERN, max_length=1000)] | None = None
    refresh_skew_seconds: int = Field(default=60, ge=0, le=600)


# the DynamoDB actions whose every request names its items' partition keys (dynamodb:LeadingKeys)
RUN_SCOPED_DYNAMODB_ACTIONS = frozenset(
    {
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    }
)


class SessionGrant(_Spec):
    """AWS access a tool needs beyond its agent's role, through a short-lived STS session (baton.credentials).

    Baton derives a role per tool holding exactly this grant (baton.iam.session_role), trusted by that agent's role
    only; the agent's role may assume exactly that role. At run time the broker assumes it for 900 seconds at most,
    the session named after the run, with a session policy narrowed by `scope`: "run" keeps a table's items whose
    partition key starts with the run id (dynamodb:LeadingKeys), "resource" keeps the declared resource.
    """

    actions: tuple[str, ...] = Field(min_length=1)
    resource: ResourceRef
    scope: Literal["run", "resource"] = "run"
    duration_seconds: int = Field(default=900, ge=900, le=900)

    @field_validator("actions")
    @classmethod
    def _exact_actions(cls, actions: tuple[str, ...]) -> tuple[str, ...]:
        for action in actions:
            service, _, operation = action.partition(":")
            if not service or not operation or "*" in action:
                raise ValueError(f"IAM action {action!r} must be an exact 'service:Operation'")
        return actions

    @model_validator(mode="after")
    def _narrowable(self) -> "SessionGrant":
        if self.scope == "run" and self.resource.kind is not ResourceKind.TABLE:
            raise ValueError("a session scoped to the run narrows a table's items (dynamodb:LeadingKeys): use a table")
        unscoped = sorted(set(self.actions) - RUN_SCOPED_DYNAMODB_ACTIONS)
        if self.scope == "run" and unscoped:
            raise ValueError(
                f"a session scoped to the run allows only item actions that carry dynamodb:LeadingKeys "
                f"(a Scan, say, carries none, and ForAllValues would let it read every run's items): not {unscoped}"
            )
        return self


# a peer deployment's workflow API: https, a lowercase host, an optional port and stage path
PEER_URL_PATTERN = r"^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*$"
# sts:ExternalId: 2-1224 characters of letters, digits and +=,.@:/-
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]+$"


class PeerSpec(_Spec):
    """Another deployment's workflow a tool consumes through that deployment's API (the federated pattern).

    The tool assumes `role_arn` (the peer's cross-account role) with the external id its secret
    `external_id_secret` holds and the run id as session name, starts `workflow` on `api_url` and reads its result,
    each request signed with SigV4 (execute-api) and sent through the tool's egress (the URL's origin must be in
    it). The result is validated against `result_model` and never trusted (baton.federation). The agent's role may
    assume exactly `role_arn` (baton.iam derives the statement).
    """

    api_url: Annotated[str, Field(pattern=PEER_URL_PATTERN, max_length=2000)]
    workflow: WorkflowName
    role_arn: RoleArn
    external_id_secret: Name
    result_model: type[BaseModel]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] = "us-east-1"
    # each request's timeout, and how long the peer's run may take in all
    request_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    run_timeout_seconds: float = Field(default=60.0, gt=0, le=840)


class PeerTrust(_Spec):
    """Who in other accounts may call this workflow through its API (the providing side of the federated pattern).

    CDK derives from it the cross-account role `role_name` (trust policy: exactly `principals`, with the condition
    sts:ExternalId = `external_id`; permissions: execute-api:Invoke on this workflow's routes only) and the API's
    resource policy; the offline bridge (baton.local.peer_bridge) applies the same declaration to each signed
    request, since moto's STS enforces no trust policy.
    """

    # IAM's role-name characters; the length as max_length (a bounded repeat in the pattern builds a larger regex)
    role_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_+=,.@-]+$", max_length=64)]
    principals: tuple[RoleArn, ...] = Field(min_length=1)
    external_id: Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN, min_length=2, max_length=1224)]


class SideEffect(StrEnum):
    READ = "read"
    WRITE = "write"
    IRREVERSIBLE = "irreversible"


# the implementation of every MCP tool: it checks the pin, validates the arguments, calls the server (baton.mcp)
MCP_IMPLEMENTATION = "baton.mcp:call_pinned_tool"
# a streamable-HTTP MCP endpoint: http(s), a lowercase host (as egress entries are), optional port and path; no
# userinfo, query or fragment
MCP_URL_PATTERN = r"^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"


class McpToolRef(_Spec):
    """One tool of a remote MCP server (streamable HTTP), pinned: what `baton mcp pin URL TOOL` prints.

    `description` and `input_schema` are the server's own, as they were when pinned; `pinned_sha256` is the hash
    of the tool's name, description and input schema (baton.mcp.pin_sha256), checked against them at load. At each
    call Baton lists the server's tools and refuses the call unless this tool is there with this very hash, and
    validates the arguments against `input_schema` before sending them. `secret`: the secret resource whose value
    is the bearer token the server wants (through the secrets broker; it must be among the tool's `secrets`).
    """

    server_url: Annotated[str, Field(pattern=MCP_URL_PATTERN, max_length=2000)]
    tool: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./-]{1,128}$")]
    description: str | None
    input_schema: dict[str, Any]
    pinned_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    secret: Name | None = None
    # each HTTP request of a call (initialize, list, call, close) may take this long
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _pin_holds(self) -> "McpToolRef":
        from baton.mcp import pin_sha256

        if self.input_schema.get("type") != "object":
            raise ValueError(f"MCP tool {self.tool!r}: an input schema is an object schema (type 'object')")
        if pin_sha256(self.tool, self.description, self.input_schema) != self.pinned_sha256:
            raise ValueError(
                f"MCP tool {self.tool!r}: its description and input_schema do not hash to pinned_sha256 "
                "(a pin is pasted whole, as `baton mcp pin` prints it)"
            )
        return self


class ToolSpec(_Spec):
    """The only way an agent touches the world."""

    name: Name
    description: str
    implementation: DottedPath
    arguments: type[BaseModel]
    side_effect: SideEffect
    grants: tuple[Grant, ...] = ()
    # secret resources the tool reads through the secrets broker (the IAM grant is derived from this)
    secrets: tuple[Name, ...] = ()
    # destinations an HTTP or MCP tool may reach; anything else is refused before a connection is made
    egress: tuple[EgressDestination, ...] = ()
    # follow HTTP redirects (each hop re-checked against `egress`); off by default
    follow_redirects: bool = False
    # untrusted unless declared: only a tool reading the project's own declared data stores may claim trust
    output_trusted: bool = False
    # an irreversible tool refuses arguments derived from untrusted data unless this names why it is safe
    untrusted_arguments_allowed: str | None = None
    # a remote MCP server's tool, pinned (baton.mcp.mcp_tool declares one): implementation MCP_IMPLEMENTATION, the
    # server's origin in `egress`, its bearer-token secret in `secrets`, output never trusted
    mcp: McpToolRef | None = None
    # OAuth 2.0 client credentials: the tool gets an access token (ctx.access_token()), never the client secret
    oauth: OAuthClientCredentials | None = None
    # AWS access beyond the agent's role, through a short-lived STS session per run (ctx.aws_session(service))
    session: SessionGrant | None = None
    # another deployment's workflow, called through its API under a cross-account role (baton.federation)
    peer: PeerSpec | None = None

    @model_validator(mode="after")
    def _peer_declared(self) -> "ToolSpec":
        if self.peer is None:
            return self
        from baton.egress import EgressRule

        problems: list[str] = []
        if self.peer.external_id_secret not in self.secrets:
            problems.append(f"its external id secret {self.peer.external_id_secret!r} must be among its secrets")
        if EgressRule.of_url(self.peer.api_url) not in {EgressRule.parse(entry) for entry in self.egress}:
            problems.append(f"its peer API's origin must be in its egress {list(self.egress)}")
        if self.output_trusted:
            problems.append("a peer's answer is never trusted (output_trusted must be False)")
        if problems:
            raise ValueError(f"peer tool {self.name!r}: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _oauth_declared(self) -> "ToolSpec":
        if self.oauth is None:
            return self
        from baton.egress import EgressDenied, EgressRule

        problems: list[str] = []
        if self.oauth.secret not in self.secrets:
            problems.append(f"its client-credentials secret {self.oauth.secret!r} must be among its secrets")
        try:
            allowed = EgressRule.of_url(self.oauth.token_url) in {EgressRule.parse(entry) for entry in self.egress}
        except (EgressDenied, ValueError) as error:
            problems.append(f"its token endpoint cannot be allowed: {error}")
        else:
            if not allowed:
                problems.append(f"its token endpoint's origin must be in its egress {list(self.egress)}")
        if problems:
            raise ValueError(f"OAuth tool {self.name!r}: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _mcp_pinned(self) -> "ToolSpec":
        if self.mcp is None:
            if self.implementation == MCP_IMPLEMENTATION:
                raise ValueError(f"tool {self.name!r} runs {MCP_IMPLEMENTATION} but declares no mcp=McpToolRef(...)")
            return self
        from baton.egress import EgressDenied, EgressRule

        problems: list[str] = []
        if self.implementation != MCP_IMPLEMENTATION:
            problems.append(f"its implementation is {MCP_IMPLEMENTATION}, which checks the pin")
        if self.output_trusted:
            problems.append("its output is a remote server's: it may not claim trusted output")
        if self.mcp.secret is not None and self.mcp.secret not in self.secrets:
            problems.append(f"its bearer-token secret {self.mcp.secret!r} must be among its secrets")
        try:
            allowed = EgressRule.of_url(self.mcp.server_url) in {EgressRule.parse(entry) for entry in self.egress}
        except (EgressDenied, ValueError) as error:
            problems.append(f"its server URL cannot be allowed: {error}")
        else:
            if not allowed:
                problems.append(f"its server's origin must be in its egress {list(self.egress)}")
        if problems:
            raise ValueError(f"MCP tool {self.name!r}: " + "; ".join(problems))
        return self

    def resource_refs(self) -> tuple[ResourceRef, ...]:
        refs = [grant.resource for grant in self.grants]
        refs += [ResourceRef(kind=ResourceKind.SECRET, name=secret) for secret in self.secrets]
        if self.session is not None:  # reached through the session's credentials, never the agent's role
            refs.append(self.session.resource)
        return tuple(refs)

    def all_grants(self) -> tuple[Grant, ...]:
        """Declared grants plus those implied by the declared secrets."""
        implied = tuple(
            Grant(
                actions=("secretsmanager:GetSecretValue",),
                resource=ResourceRef(kind=ResourceKind.SECRET, name=secret),
            )
            for secret in self.secrets
        )
        return self.grants + implied


# a cross-region (system-defined) inference profile id starts with its geography
INFERENCE_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.")
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"


class ModelSpec(_Spec):
    """A Bedrock model an agent or a planner converses with (Converse API), and its limits."""

    # a foundation model id ("anthropic.claude-3-5-haiku-20241022-v1:0") or a cross-region inference profile id
    # ("us.anthropic.claude-3-5-haiku-20241022-v1:0"), whose destination regions IAM must also name
    model_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.:-]{2,127}$")]
    profile_regions: tuple[Annotated[str, Field(pattern=REGION_PATTERN)], ...] = ()
    max_tokens: int = Field(default=1024, ge=16, le=8192)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    # turns of the tool-use loop (each one model call) before the task ends with an error
    max_iterations: int = Field(default=8, ge=1, le=40)
    guardrail_id: Annotated[str, Field(pattern=r"^[a-z0-9]{1,64}$")] | None = None
    guardrail_version: Annotated[str, Field(pattern=r"^(DRAFT|[0-9]+)$", max_length=8)] | None = None

    @property
    def inference_profile(self) -> bool:
        return self.model_id.startswith(INFERENCE_PROFILE_PREFIXES)

    @property
    def foundation_model(self) -> str:
        """The foundation model the id names (an inference profile's id without its geography)."""
        if not self.inference_profile:
            return self.model_id
        return self.model_id.split(".", 1)[1]

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
        if self.inference_profile and not self.profile_regions:
            raise ValueError(f"inference profile {self.model_id!r} needs profile_regions (the regions it routes to)")
        if not self.inference_profile and self.profile_regions:
            raise ValueError("profile_regions apply to an inference profile id only")
        if (self.guardrail_id is None) != (self.guardrail_version is None):
            raise ValueError("a guardrail needs both guardrail_id and guardrail_version")
        return self


class PolicyFile(_Spec):
    """The Cedar tool-call policies an agent is under (baton.policy): a file of an app's package, read with
    importlib.resources. Under policies, every tool call needs a permit; a forbid wins; a forbid annotated
    @approval holds the call for a person. `log_only`: decisions are recorded, never enforced."""

    # dotted identifiers, and /-separated segments ending in .cedar, each Unicode class written as few times as the
    # names allow and in no capturing group: pydantic-core compiles each at every cold start (~0.5 ms spared each)
    package: Annotated[str, Field(pattern=r"^[A-Za-z_](?:[A-Za-z0-9_]|\.[A-Za-z_])*$")]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-](?:/?[A-Za-z0-9_-])*\.cedar$")] = "policies.cedar"
    log_only: bool = False

    @property
    def label(self) -> str:
        return f"{self.package}:{self.name}"


class AgentSpec(_Spec):
    """A specialised unit of work: one Lambda function, one IAM role.

    A coded agent names its `implementation`; a model-backed agent declares a `model` and `instructions` instead,
    and runs Baton's Converse tool-use loop over its tools (baton.ai.agent).
    """

    name: Name
    description: str
    implementation: DottedPath | None = None
    model: ModelSpec | None = None
    # a model-backed agent's system prompt (never holding untrusted data: inputs reach the model as labelled data)
    instructions: str = Field(default="", max_length=20_000)
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    # may be empty: a pure-logic agent, whose role then holds no resource statements
    tools: tuple[Name, ...] = ()
    # the only run-context keys this agent receives (workflow input fields or other agents' outputs)
    context_keys: tuple[str, ...] = ()
    timeout_seconds: int = Field(default=30, ge=1, le=900)
    memory_mb: int = Field(default=256, ge=128, le=10240)
    reserved_concurrency: int | None = Field(default=None, ge=1)
    # the largest output (JSON bytes) this agent may return; larger is a task failure with a clear error
    max_output_bytes: int = Field(default=65_536, ge=1_024, le=MAX_AGENT_OUTPUT_BYTES)
    # the Cedar policies its tool calls are under (deny by default); None: only the allowlist and taint checks
    policies: PolicyFile | None = None

    @model_validator(mode="after")
    def _coded_or_model_backed(self) -> "AgentSpec":
        if (self.implementation is None) == (self.model is None):
            raise ValueError("an agent names either an implementation (coded) or a model (model-backed), not both")
        if self.model is not None and not self.instructions.strip():
            raise ValueError("a model-backed agent needs instructions")
        return self


class Budgets(_Spec):
    """Limits the orchestrator enforces on every run of a workflow."""

    max_stages: int = Field(default=20, ge=1)
    max_tasks_per_stage: int = Field(default=10, ge=1, le=1000)
    max_concurrency: int = Field(default=5, ge=1, le=1000)
    # per run, across the planner and every model-backed agent (Converse's own usage figures)
    max_model_calls: int = Field(default=20, ge=0)
    max_input_tokens: int = Field(default=100_000, ge=0)
    max_output_tokens: int = Field(default=20_000, ge=0)


MIN_APPROVAL_SECONDS, MAX_APPROVAL_SECONDS = 60, 7 * 24 * 3600


class ApprovalSettings(_Spec):
    """Who may approve a run's held actions, who is told, and how long they may take (see baton.approvals).

    The API accepts a decision only from one of `approver_roles` (an assumed-role session counts as its role), never
    from the principal that started the run (compared by role and by source identity). The orchestrator's role may
    send to `notify` (a queue or topic of the catalog: the IAM is derived from it); the API's role may resume the
    workflow's executions. Approvals need a Standard workflow: an Express execution cannot wait for a task token.
    """

    approver_roles: tuple[RoleArn, ...] = Field(min_length=1)
    # a queue or topic resource of the catalog that gets one message per approval asked for (never its task token)
    notify: ResourceRef | None = None
    # how long a person may take when the rule that held the action names no expiry
    default_expiry_seconds: int = Field(default=3600, ge=MIN_APPROVAL_SECONDS, le=MAX_APPROVAL_SECONDS)


class InjectionGuardrail(_Spec):
    """A Bedrock guardrail with the prompt-attack filter, as a workflow's injection detector (baton.detection):
    ApplyGuardrail with source INPUT; the orchestrator's role gets bedrock:ApplyGuardrail on it, derived."""

    guardrail_id: Annotated[str, Field(pattern=r"^[a-z0-9]{1,64}$")]
    guardrail_version: Annotated[str, Field(pattern=r"^(DRAFT|[1-9][0-9]*)$", max_length=8)]


class EventTrigger(_Spec):
    """The event-driven pattern: events on a catalog event bus matching `pattern` start a run of the workflow.

    Derived from it (baton.triggers, baton.iam.starter_role, infra/constructs/event_triggers.py): a rule on the bus
    with this pattern, targeting the workflow's own SQS queue (its policy lets only that rule send) with a
    dead-letter queue (redrive after `max_receive_count` receives), and the workflow's starter function, which drains
    the queue, validates each event's detail against the workflow's input model, and starts one run per event id.
    """

    bus: Name
    # an EventBridge event pattern (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html)
    pattern: dict[str, Any] = Field(min_length=1)
    max_receive_count: int = Field(default=3, ge=1, le=1000)


class WorkflowSpec(_Spec):
    """A named goal type: its input model, its agents, its planner, its guardrails."""

    name: WorkflowName
    description: str
    input_model: type[BaseModel]
    planner: DottedPath
    # a model planner's model and system prompt (the planner class, e.g. baton.ai.planner:ModelPlanner, uses them)
    planner_model: ModelSpec | None = None
    planner_instructions: str = Field(default="", max_length=20_000)
    # what a model planner is shown of untrusted values: "fenced" (inside labelled data blocks) or "shape_only"
    # (plan-then-execute: their key, type and size, never their text)
    planner_sees_untrusted: Literal["fenced", "shape_only"] = "fenced"
    agents: tuple[Name, ...] = Field(min_length=1)
    # input fields whose model validation makes them safe identifiers rather than free text; each must be
    # constrained by its model (enum or literal, pattern, number, boolean) or the catalog refuses to load
    trusted_input_keys: tuple[str, ...] = ()
    # IAM role ARNs that may read every run of this workflow (others read only the runs they started)
    reader_roles: tuple[RoleArn, ...] = ()
    budgets: Budgets = Budgets()
    # standard: exactly-once, up to a year, full execution history, ~$0.025 per 1,000 state transitions.
    # express: billed per request and duration (far cheaper per run), but at-least-once, at most 5 minutes,
    # and no task-token approvals: for short workflows whose every side effect is idempotent.
    execution: Literal["standard", "express"] = "standard"
    run_retention_days: int = Field(default=30, ge=1)
    # human approval of held actions (an agent's tool call a policy holds, a planner's AwaitApproval); None: a held
    # action fails its task, and a planner may not await approval
    approvals: ApprovalSettings | None = None
    # scans untrusted values entering a run and flags them (a signal, never the boundary; see baton.detection):
    # "builtin" (rules shipped in Baton, nothing downloaded), a Bedrock guardrail, or None (no scanning)
    injection_detector: Literal["builtin"] | InjectionGuardrail | None = None
    # concurrent stages: the context keys a planner's `Delegate(reconcile=...)` may record a merged value into (see
    # baton.reconcile); its agents may receive them as context keys
    reconciled_keys: tuple[str, ...] = ()
    # offline only: prepares seed data and fakes in the local engine
    offline_fixture: DottedPath | None = None
    # hierarchical orchestration: the workflows of the catalog this workflow's planner may delegate to as child runs
    # (`Task(agent=<child workflow>, params=<its input>)`), each started as a child execution
    # (states:startExecution.sync:2); the state machine's role may start exactly these (see docs/guide.md)
    children: tuple[WorkflowName, ...] = ()
    # the event-driven pattern: events that start runs of this workflow (see EventTrigger)
    triggers: tuple[EventTrigger, ...] = ()
    # the federated pattern: who in other accounts may start this workflow and read its runs through the API
    trusted_peers: tuple[PeerTrust, ...] = ()


class Catalog(_Spec):
    resources: dict[str, ResourceSpec]
    tools: dict[str, ToolSpec]
    agents: dict[str, AgentSpec]
    workflows: dict[str, WorkflowSpec]
    kind: Literal["baton.catalog"] = "baton.catalog"

    def workflow(self, name: str) -> WorkflowSpec:
        try:
            return self.workflows[name]
        except KeyError:
            raise CatalogError(f"unknown workflow {name!r}; known: {sorted(self.workflows)}") from None

    def agent(self, name: str) -> AgentSpec:
        try:
            return self.agents[name]
        except KeyError:
            raise CatalogError(f"unknown agent {name!r}") from None

    def tools_of(self, agent: AgentSpec) -> tuple[ToolSpec, ...]:
        return tuple(self.tools[name] for name in agent.tools)

    def resources_of(self, agent: AgentSpec) -> tuple[ResourceSpec, ...]:
        names: dict[str, None] = {}
        for tool in self.tools_of(agent):
            for ref in tool.resource_refs():
                names[ref.name] = None
        return tuple(self.resources[name] for name in names)

    def policy_files(self) -> dict[PolicyFile, list[AgentSpec]]:
        """Each tool-call policy file of the catalog and the agents under it (baton.policy reads and checks them)."""
        files: dict[PolicyFile, list[AgentSpec]] = {}
        for agent in self.agents.values():
            if agent.policies is not None:
                files.setdefault(agent.policies, []).append(agent)
        return files

    def restricted(self, workflows: Collection[str]) -> "Catalog":
        """The catalog of `workflows` alone: them, their agents, those agents' tools, and the resources these name
        (a tool's grants, secrets and session, an approval's notify target, a trigger's bus), checked as any catalog
        is (leaving out a workflow's child is an error)."""
        for name in workflows:
            self.workflow(name)
        kept = [spec for name, spec in self.workflows.items() if name in workflows]
        agents = {name: self.agents[name] for workflow in kept for name in workflow.agents}
        tools = {name: self.tools[name] for agent in agents.values() for name in agent.tools}
        named = {ref.name for tool in tools.values() for ref in tool.resource_refs()}
        named |= {w.approvals.notify.name for w in kept if w.approvals is not None and w.approvals.notify is not None}
        named |= {trigger.bus for workflow in kept for trigger in workflow.triggers}
        return build_catalog(
            resources=[spec for name, spec in self.resources.items() if name in named],
            tools=[spec for name, spec in self.tools.items() if name in tools],
            agents=[spec for name, spec in self.agents.items() if name in agents],
            workflows=kept,
        )

    @staticmethod
    def merge(*catalogs: "Catalog") -> "Catalog":
        """One catalog of several apps' catalogs (one app may reuse another's agents).

        A name declared by two catalogs must be the very same declaration; anything else is refused.
        """
        resources: dict[str, ResourceSpec] = {}
        tools: dict[str, ToolSpec] = {}
        agents: dict[str, AgentSpec] = {}
        workflows: dict[str, WorkflowSpec] = {}
        problems: list[str] = []
        for catalog in catalogs:
            for label, merged, specs in (
                ("resource", resources, catalog.resources),
                ("tool", tools, catalog.tools),
                ("agent", agents, catalog.agents),
                ("workflow", workflows, catalog.workflows),
            ):
                for name, spec in specs.items():
                    if merged.setdefault(name, spec) != spec:  # type: ignore[arg-type]
                        problems.append(f"{label} {name!r} is declared differently by two catalogs")
        if problems:
            raise CatalogError("cannot merge catalogs: " + "; ".join(sorted(set(problems))))
        return build_catalog(
            resources=list(resources.values()),
            tools=list(tools.values()),
            agents=list(agents.values()),
            workflows=list(workflows.values()),
        )


def _policies_checked_at_synthesis(catalog: Catalog) -> bool:
    """In a Lambda function the infrastructure shipped without the Cedar engine (it serves no agent under policies),
    a catalog under policies had them and the Rule of Two checked at synthesis, with the same files: its load does
    not check them again (find_spec: whether the engine ships, without importing its 15 MB library)."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return False
    return bool(catalog.policy_files()) and importlib.util.find_spec("cedarpy") is None


def build_catalog(
    *,
    resources: list[ResourceSpec],
    tools: list[ToolSpec],
    agents: list[AgentSpec],
    workflows: list[WorkflowSpec],
) -> Catalog:
    """Assemble and cross-check a catalog; raise CatalogError naming every problem found."""
    catalog = Catalog(
        resources={r.name: r for r in resources},
        tools={t.name: t for t in tools},
        agents={a.name: a for a in agents},
        workflows={w.name: w for w in workflows},
    )
    problems = [
        *_duplicates(resources=resources, tools=tools, agents=agents, workflows=workflows),
        *_resource_problems(resources),
        *_boundary_problems(tools, agents, workflows),
        *_tool_problems(tools, catalog.resources),
        *_agent_problems(agents, catalog.tools),
        *_workflow_problems(workflows, catalog.agents),
        *_approval_problems(workflows, catalog.resources),
        *_child_problems(workflows, catalog.agents),
        *_trigger_problems(workflows, catalog.resources),
    ]
    # the policies and the Rule of Two read a catalog that is otherwise sound
    if not problems and not _policies_checked_at_synthesis(catalog):
        from baton.rule_of_two import catalog_problems  # here: a function that skips them never loads them

        problems += catalog_problems(catalog)
    if problems:
        raise CatalogError("invalid catalog: " + "; ".join(problems))
    return catalog


def _duplicates(**specs: list[ResourceSpec] | list[ToolSpec] | list[AgentSpec] | list[WorkflowSpec]) -> Iterator[str]:
    for label, items in specs.items():
        for name, count in Counter(item.name for item in items).items():
            if count > 1:
                yield f"duplicate {label[:-1]} name {name!r}"


def _resource_problems(resources: list[ResourceSpec]) -> Iterator[str]:
    for resource in resources:
        if resource.kind is ResourceKind.TABLE and not resource.partition_key:
            yield f"table {resource.name!r} has no partition_key"
        if resource.kind is ResourceKind.PARAMETER and resource.value is None:
            yield f"parameter {resource.name!r} has no value"
        rotates = resource.rotation_function_arn is not None or resource.rotation_days is not None
        if rotates and resource.kind is not ResourceKind.SECRET:
            yield f"{resource.kind.value} {resource.name!r} declares a rotation: only a secret rotates"
        elif resource.rotation_days is not None and resource.rotation_function_arn is None:
            yield f"secret {resource.name!r} declares rotation_days but no rotation_function_arn (what rotates it)"


def _boundary_problems(tools: list[ToolSpec], agents: list[AgentSpec], workflows: list[WorkflowSpec]) -> Iterator[str]:
    boundaries = [(f"tool {t.name!r} arguments", t.arguments) for t in tools]
    boundaries += [
        (f"agent {a.name!r} {part}", getattr(a, part)) for a in agents for part in ("input_model", "output_model")
    ]
    boundaries += [(f"workflow {w.name!r} input_model", w.input_model) for w in workflows]
    for label, model in boundaries:
        if model.model_config.get("extra") != "forbid":
            yield f"{label} {model.__name__} must forbid extra fields (it crosses a trust boundary)"


def _tool_problems(tools: list[ToolSpec], resources: dict[str, ResourceSpec]) -> Iterator[str]:
    for tool in tools:
        for ref in tool.resource_refs():
            target = resources.get(ref.name)
            if target is None:
                yield f"tool {tool.name!r} grants access to undeclared resource {ref.name!r}"
            elif target.kind is not ref.kind:
                kinds = f"as a {ref.kind.value}, but it is a {target.kind.value}"
                yield f"tool {tool.name!r} refers to {ref.name!r} {kinds}"
        if tool.egress and tool.output_trusted:
            yield f"tool {tool.name!r} reaches outside the account, so it may not claim trusted output"


def _agent_problems(agents: list[AgentSpec], tools: dict[str, ToolSpec]) -> Iterator[str]:
    for agent in agents:
        for tool_name in agent.tools:
            if tool_name not in tools:
                yield f"agent {agent.name!r} uses unknown tool {tool_name!r}"


def _child_problems(workflows: list[WorkflowSpec], agents: dict[str, AgentSpec]) -> Iterator[str]:
    """A child workflow must be declared, Standard (it runs under `.sync:2`), not named like an agent, and no
    workflow may reach itself through its children (a tree of runs, never a cycle)."""
    by_name = {w.name: w for w in workflows}
    for workflow in workflows:
        for child in workflow.children:
            target = by_name.get(child)
            if target is None:
                yield f"workflow {workflow.name!r} declares unknown child workflow {child!r}"
            elif target.execution != "standard" or workflow.execution != "standard":
                yield f"workflow {workflow.name!r} and its child {child!r} must both be standard workflows"
            if child in agents or child in workflow.agents:
                yield f"workflow {workflow.name!r} has a child workflow named like an agent: {child!r}"
        seen: set[str] = set()
        pending = list(workflow.children)
        while pending:
            name = pending.pop()
            if name == workflow.name:
                yield f"workflow {workflow.name!r} is its own descendant through its children"
                break
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            pending.extend(by_name[name].children)


def _trigger_problems(workflows: list[WorkflowSpec], resources: dict[str, ResourceSpec]) -> Iterator[str]:
    for workflow in workflows:
        for trigger in workflow.triggers:
            target = resources.get(trigger.bus)
            if target is None or target.kind is not ResourceKind.EVENT_BUS:
                yield f"workflow {workflow.name!r} is triggered by {trigger.bus!r}, which is not a declared event bus"
        if len(workflow.triggers) > 1:  # one rule and one queue per subscribing workflow
            yield f"workflow {workflow.name!r} declares {len(workflow.triggers)} triggers: one at most"


def _workflow_problems(workflows: list[WorkflowSpec], agents: dict[str, AgentSpec]) -> Iterator[str]:
    for workflow in workflows:
        input_keys = set(workflow.input_model.model_fields)
        properties = workflow.input_model.model_json_schema().get("properties", {})
        for key in workflow.trusted_input_keys:
            if key not in input_keys:
                yield f"workflow {workflow.name!r} trusts unknown input key {key!r}"
            elif not _constrained(properties.get(key, {})):
                yield (
                    f"workflow {workflow.name!r} trusts input key {key!r}, which its model leaves free text: "
                    "constrain it (pattern, enum or literal, number, boolean) or do not trust it"
                )
        for agent_name in workflow.agents:
            agent = agents.get(agent_name)
            if agent is None:
                yield f"workflow {workflow.name!r} uses unknown agent {agent_name!r}"
                continue
            for key in set(agent.context_keys) - input_keys - set(workflow.agents) - set(workflow.reconciled_keys):
                yield f"agent {agent.name!r} reads context key {key!r}, which workflow {workflow.name!r} never provides"


def _approval_problems(workflows: list[WorkflowSpec], resources: dict[str, ResourceSpec]) -> Iterator[str]:
    for workflow in workflows:
        approvals = workflow.approvals
        if approvals is None:
            continue
        if workflow.execution == "express":
            yield (
                f"workflow {workflow.name!r} declares approvals but runs on Express: an Express execution cannot wait "
                "for a task token (at most 5 minutes, no callbacks); declare execution='standard'"
            )
        if approvals.default_expiry_seconds >= workflow.run_retention_days * 86400:
            yield (
                f"workflow {workflow.name!r}: an approval may take {approvals.default_expiry_seconds} s, longer than "
                f"its runs are kept ({workflow.run_retention_days} days)"
            )
        notify = approvals.notify
        if notify is None:
            continue
        target = resources.get(notify.name)
        if notify.kind not in (ResourceKind.QUEUE, ResourceKind.TOPIC):
            yield f"workflow {workflow.name!r} notifies approvers through a {notify.kind.value}: a queue or topic only"
        elif target is None:
            yield f"workflow {workflow.name!r} notifies approvers through undeclared resource {notify.name!r}"
        elif target.kind is not notify.kind:
            kinds = f"as a {notify.kind.value}, but it is a {target.kind.value}"
            yield f"workflow {workflow.name!r} refers to {notify.name!r} {kinds}"


def _constrained(schema: dict[str, Any]) -> bool:
    """Whether a JSON schema admits only constrained values: what validation turns into a safe identifier."""
    if "enum" in schema or "const" in schema:
        return True
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        return all(_constrained(v) for v in variants)
    kind = schema.get("type")
    if kind in {"integer", "number", "boolean", "null"}:
        return True
    if kind == "string":
        return "pattern" in schema or schema.get("format") in {"uuid", "date", "date-time"}
    if kind == "array":  # a bounded list of constrained values (e.g. of literals)
        return "maxItems" in schema and _constrained(schema.get("items", {}))
    return False


def resolve(path: str) -> Any:
    """Import the attribute a catalog's dotted path names."""
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
