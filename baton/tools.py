"""Tool access for agents: the allowlist, argument validation and the scoped context a tool runs in.

Infrastructure already limits what an agent's role can do; this is the second line of defence inside
the function, and the place every call is recorded for the audit trail.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from baton.aws import AwsClients
from baton.catalog import AgentSpec, Catalog, SideEffect, ToolSpec, resolve
from baton.clock import now_iso
from baton.egress import EgressDenied
from baton.redaction import REDACTOR
from baton.secrets import SecretsBroker
from baton.task_models import (
    ApprovalGrant,
    CallOutcome,
    PendingCall,
    PriorCall,
    ToolCallRecord,
    arguments_sha256,
    invalid_fields,
)

if TYPE_CHECKING:
    from baton.credentials import SessionBroker, TokenBroker
    from baton.http import HttpClient, HttpTransport
    from baton.policy import PolicyDecision, PolicyEngine


class AgentError(Exception):
    """Base of errors that fail a task. The class name is the Lambda errorType Step Functions sees."""


class RetryableAgentError(AgentError):
    """A transient failure (throttling, a provider outage): Step Functions retries the task with backoff."""


class AgentTaskFailed(AgentError):
    """A permanent failure: retrying cannot help (denial, invalid data)."""


class ToolDenied(AgentError):
    """A tool, resource, secret or destination outside what the agent declared."""


class ToolArgumentsInvalid(AgentError):
    """Arguments that fail the tool's model; the tool never ran."""


class ApprovalRequired(AgentError):
    """A tool-call policy holds this exact call for a person: nothing of it ran. The attempt reports
    NEEDS_APPROVAL with the pending call (not a failure, never retried)."""

    def __init__(self, pending: PendingCall) -> None:
        super().__init__(f"tool {pending.tool!r} needs a person's approval: {pending.reason}")
        self.pending = pending


class RetryableToolError(Exception):
    """Raised by tool implementations for transient failures worth retrying."""


class ToolContext:
    """What one tool may reach: only the resources, secrets and hosts its spec declares."""

    def __init__(
        self,
        tool: ToolSpec,
        run_id: str,
        resources: dict[str, str],
        clients: AwsClients,
        secrets: SecretsBroker,
        http_transport: HttpTransport,
        *,
        tokens: TokenBroker | None = None,
        sessions: SessionBroker | None = None,
    ) -> None:
        self.tool = tool
        self.run_id = run_id
        self._resources = resources
        self._clients = clients
        self._secrets = secrets
        self._http_transport = http_transport
        self._tokens = tokens
        self._sessions = sessions
        self._services = {grant_action.split(":")[0] for g in tool.all_grants() for grant_action in g.actions}
        if tool.peer is not None:  # sts:AssumeRole on the peer's role (baton.iam.assume_peer_statements)
            self._services.add("sts")
        # the same for every delivery of this call (a retried or redelivered attempt makes the same call): an
        # irreversible tool sends it to its provider (an Idempotency-Key header) so the effect happens once
        self.idempotency_key = ""

    def resource(self, name: str) -> str:
        """The physical id (table name, queue URL, topic ARN, ...) of a resource this tool declares."""
        if name not in {ref.name for ref in self.tool.resource_refs()}:
            raise ToolDenied(f"tool {self.tool.name!r} did not declare resource {name!r}")
        try:
            return self._resources[name]
        except KeyError:
            raise ToolDenied(f"resource {name!r} is not configured for this function") from None

    def aws(self, service: str) -> Any:
        if service not in self._services:
            raise ToolDenied(f"tool {self.tool.name!r} declares no grant for AWS service {service!r}")
        return self._clients.client(service)

    def secret(self, name: str) -> str:
        if name not in self.tool.secrets:
            raise ToolDenied(f"tool {self.tool.name!r} did not declare secret {name!r}")
        if self.tool.oauth is not None and name == self.tool.oauth.secret:
            # the client secret stays with the credentials broker: the tool gets access tokens only
            raise ToolDenied(
                f"tool {self.tool.name!r} may not read its client-credentials secret {name!r}: use ctx.access_token()"
            )
        return self._secrets.get(name)

    def access_token(self) -> str:
        """A current OAuth 2.0 access token for the tool's declared client credentials (cached, refreshed)."""
        if self.tool.oauth is None:
            raise ToolDenied(f"tool {self.tool.name!r} declares no OAuth client credentials")
        tokens = self._tokens
        if tokens is None:  # a context made without the function's shared broker: a cache of its own
            from baton.credentials import TokenBroker

            tokens = self._tokens = TokenBroker(self._secrets, self._http_transport)
        token: str = self._credential(lambda: tokens.token(self.tool))
        return token

    def aws_session(self, service: str) -> Any:
        """A client on the tool's own STS session: its declared grant, narrowed to this run, 900 s at most."""
        grant = self.tool.session
        if grant is None:
            raise ToolDenied(f"tool {self.tool.name!r} declares no session")
        if service not in {action.split(":")[0] for action in grant.actions}:
            raise ToolDenied(f"tool {self.tool.name!r}'s session grants nothing on AWS service {service!r}")
        sessions = self._sessions
        if sessions is None:
            raise ToolDenied(f"no session broker is configured for tool {self.tool.name!r}")
        return self._credential(lambda: sessions.client(self.tool, self.run_id, service))

    @staticmethod
    def _credential(obtain: Callable[[], Any]) -> Any:
        from baton.credentials import CredentialsUnavailable

        try:
            return obtain()
        except CredentialsUnavailable as error:
            if error.retryable:
                raise RetryableToolError(str(error)) from None
            raise

    def http(self, timeout_seconds: float = 5.0) -> HttpClient:
        """An HTTP client limited to the tool's egress; each request (redirect hops included) within the timeout."""
        from baton.http import HttpClient  # here: an agent none of whose tools reaches out never loads the client

        return HttpClient(
            self.tool.egress, self._http_transport, timeout_seconds, follow_redirects=self.tool.follow_redirects
        )


def idempotency_key(call_scope: str, tool: str, arguments: dict[str, Any]) -> str:
    """A key that names one call of one task: the same for every delivery of that task, another for any other call."""
    return hashlib.sha256(f"{call_scope}|{arguments_sha256(tool, arguments)}".encode()).hexdigest()[:40]


class ToolBox:
    """The tools an agent may call, and the record of every call it made.

    Taint: the task is tainted from the moment it calls a tool whose output is untrusted, whatever that
    call's outcome (an error message can carry the remote party's words as well as a result can). An
    irreversible tool then refuses to run, as it does when the task's inputs are untrusted, unless the tool
    declares why untrusted arguments are safe for it (`untrusted_arguments_allowed`).

    Policies: an agent under tool-call policies (`policies`, baton.policy) has each call that passed those checks
    put to them: deny raises ToolDenied; approval runs the call only with an unexpired grant for this agent, tool
    and exact validated arguments (each grant used once), else raises ApprovalRequired and holds every later call.
    """

    def __init__(
        self,
        agent: AgentSpec,
        catalog: Catalog,
        make_context: Callable[[ToolSpec], ToolContext],
        inputs_trusted: bool,
        max_calls: int = 50,
        *,
        policies: PolicyEngine | None = None,
        grants: Sequence[ApprovalGrant] = (),
        prior_calls: Sequence[PriorCall] = (),
        flagged: bool = False,
        clock: Callable[[], float] = time.time,
        call_scope: str = "",
    ) -> None:
        self._agent = agent
        self._call_scope = call_scope  # the run and task the calls are made for (idempotency keys)
        self._catalog = catalog
        self._make_context = make_context
        self._inputs_trusted = inputs_trusted
        self._max_calls = max_calls
        self._policies = policies
        self._grants = [g for g in grants if g.agent == agent.name]
        self._prior_calls = tuple(prior_calls)
        self._flagged = flagged
        self._clock = clock
        self._used_grants: set[str] = set()
        self.records: list[ToolCallRecord] = []
        self.denied = False
        self.tainted = False
        # the call a policy held for a person: the task ends with it, and no later call runs
        self.pending: PendingCall | None = None

    @property
    def output_trusted(self) -> bool:
        return self._inputs_trusted and not self.tainted

    def _context_for(self, spec: ToolSpec, arguments: dict[str, Any]) -> ToolContext:
        context = self._make_context(spec)
        context.idempotency_key = idempotency_key(self._call_scope, spec.name, arguments)
        return context

    def call(self, tool_name: str, **arguments: Any) -> Any:
        started = time.perf_counter()
        at = now_iso()

        decision: PolicyDecision | None = None
        grant_id: str | None = None

        def record(outcome: CallOutcome, args: dict[str, Any], detail: str = "") -> None:
            safe_args = REDACTOR.redact_json(json.loads(json.dumps(args, default=str)))
            self.records.append(
                ToolCallRecord(
                    tool=tool_name,
                    outcome=outcome,
                    at=at,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    arguments=safe_args,
                    detail=REDACTOR.redact(detail)[:500],
                    policy_effect=None if decision is None else decision.effect,
                    policy_ids=[] if decision is None else decision.policy_ids,
                    policy_log_only=decision is not None and decision.log_only,
                    grant_id=grant_id,
                )
            )

        def deny(reason: str, args: dict[str, Any] | None = None) -> ToolDenied:
            self.denied = True
            record("denied", {"keys": sorted(arguments)} if args is None else args, reason)
            return ToolDenied(reason)

        if self.pending is not None:  # a held call ends the task: nothing after it runs
            raise ApprovalRequired(self.pending)
        if tool_name not in self._agent.tools or tool_name not in self._catalog.tools:
            raise deny(f"agent {self._agent.name!r} may not call tool {tool_name!r}")
        if len(self.records) >= self._max_calls:
            raise deny(f"agent {self._agent.name!r} exceeded {self._max_calls} tool calls in one task")
        spec = self._catalog.tools[tool_name]
        try:
            args: BaseModel = spec.arguments.model_validate(arguments)
        except ValidationError as error:
            fields = invalid_fields(error)
            record("invalid_arguments", {"keys": sorted(arguments)}, f"invalid: {fields}")
            raise ToolArgumentsInvalid(f"tool {tool_name!r} rejected its arguments: {fields}") from None
        dumped = args.model_dump(mode="json")
        refusal = self._taint_refusal(spec)
        if refusal is not None:
            raise deny(refusal)
        if self._policies is not None:
            decision, refusal, grant_id = self._authorize(self._policies, spec, dumped)
            if refusal is not None:
                raise deny(refusal, dumped)
            if self.pending is not None:
                record("needs_approval", dumped, decision.reason)
                raise ApprovalRequired(self.pending)
        implementation: Callable[[BaseModel, ToolContext], Any] = resolve(spec.implementation)
        if not spec.output_trusted:
            self.tainted = True  # from the call on, whatever its outcome
        try:
            result = implementation(args, self._context_for(spec, dumped))
        except (ToolDenied, EgressDenied) as error:  # a refused resource, secret or destination is a denial
            self.denied = True
            record("denied", dumped, str(error))
            raise
        except Exception as error:  # arguments only the tool can check (an MCP tool's pinned schema) fail as such
            outcome: CallOutcome = "invalid_arguments" if isinstance(error, ToolArgumentsInvalid) else "error"
            record(outcome, dumped, f"{type(error).__name__}: {error}")
            raise
        record("ok", dumped)
        return result

    def _taint_refusal(self, spec: ToolSpec) -> str | None:
        """Why an irreversible tool refuses this call's (possibly untrusted) arguments, if it does."""
        if spec.side_effect is not SideEffect.IRREVERSIBLE or spec.untrusted_arguments_allowed is not None:
            return None
        if not self._inputs_trusted:
            return f"irreversible tool {spec.name!r} refuses arguments derived from untrusted input"
        if self.tainted:
            return f"irreversible tool {spec.name!r} refuses to run after this task read untrusted data"
        return None

    def _authorize(
        self, policies: PolicyEngine, spec: ToolSpec, dumped: dict[str, Any]
    ) -> tuple[PolicyDecision, str | None, str | None]:
        """The policies' decision, why they refuse the call (None: they do not), and the grant it uses; a call held
        for a person without a matching grant becomes the toolbox's pending call."""
        from baton.policy import CallContext

        context = CallContext(
            inputs_untrusted=not self._inputs_trusted,
            read_untrusted=self.tainted,
            flagged=self._flagged,
            prior_calls=self._prior_calls,
        )
        decision = policies.decide(spec, dumped, context)
        if decision.denies:
            ids = ", ".join(decision.policy_ids) or "none permits it"
            return decision, f"policy denies tool {spec.name!r}: {decision.reason} ({ids})", None
        if not decision.holds:
            return decision, None, None
        grant = self._grant(spec.name, dumped)
        if grant is not None:
            return decision, None, grant.grant_id
        self.pending = PendingCall(
            agent=self._agent.name,
            tool=spec.name,
            arguments_sha256=arguments_sha256(spec.name, dumped),
            arguments=REDACTOR.redact_json(dumped),
            policy_ids=decision.policy_ids,
            reason=REDACTOR.redact(decision.reason)[:300],
            expires_in_seconds=decision.expires_in_seconds,
        )
        return decision, None, None

    def _grant(self, tool_name: str, dumped: dict[str, Any]) -> ApprovalGrant | None:
        """An unexpired, unused grant for exactly this call (agent, tool, hash of the validated arguments); used."""
        digest = arguments_sha256(tool_name, dumped)
        now = self._clock()
        for grant in self._grants:
            if (
                grant.tool == tool_name
                and grant.arguments_sha256 == digest
                and grant.expires_at > now
                and grant.grant_id not in self._used_grants
            ):
                self._used_grants.add(grant.grant_id)
                return grant
        return None
