"""Tool access for agents: the allowlist, argument validation and the scoped context a tool runs in.

Infrastructure already limits what an agent's role can do; this is the second line of defence inside
the function, and the place every call is recorded for the audit trail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from baton.aws import AwsClients
from baton.catalog import AgentSpec, Catalog, SideEffect, ToolSpec, resolve
from baton.clock import now_iso
from baton.http import EgressDenied, HttpClient, HttpTransport
from baton.models import CallOutcome, ToolCallRecord, invalid_fields
from baton.redaction import REDACTOR
from baton.secrets import SecretsBroker


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
    ) -> None:
        self.tool = tool
        self.run_id = run_id
        self._resources = resources
        self._clients = clients
        self._secrets = secrets
        self._http_transport = http_transport
        self._services = {grant_action.split(":")[0] for g in tool.all_grants() for grant_action in g.actions}

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
        return self._secrets.get(name)

    def http(self) -> HttpClient:
        return HttpClient(self.tool.egress, self._http_transport, follow_redirects=self.tool.follow_redirects)


class ToolBox:
    """The tools an agent may call, and the record of every call it made.

    Taint: the task is tainted from the moment it calls a tool whose output is untrusted, whatever that
    call's outcome (an error message can carry the remote party's words as well as a result can). An
    irreversible tool then refuses to run, as it does when the task's inputs are untrusted, unless the tool
    declares why untrusted arguments are safe for it (`untrusted_arguments_allowed`).
    """

    def __init__(
        self,
        agent: AgentSpec,
        catalog: Catalog,
        make_context: Callable[[ToolSpec], ToolContext],
        inputs_trusted: bool,
        max_calls: int = 50,
    ) -> None:
        self._agent = agent
        self._catalog = catalog
        self._make_context = make_context
        self._inputs_trusted = inputs_trusted
        self._max_calls = max_calls
        self.records: list[ToolCallRecord] = []
        self.denied = False
        self.tainted = False

    @property
    def output_trusted(self) -> bool:
        return self._inputs_trusted and not self.tainted

    def call(self, tool_name: str, **arguments: Any) -> Any:
        started = time.perf_counter()
        at = now_iso()

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
                )
            )

        def deny(reason: str) -> ToolDenied:
            self.denied = True
            record("denied", {"keys": sorted(arguments)}, reason)
            return ToolDenied(reason)

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
        if spec.side_effect is SideEffect.IRREVERSIBLE and spec.untrusted_arguments_allowed is None:
            if not self._inputs_trusted:
                raise deny(f"irreversible tool {tool_name!r} refuses arguments derived from untrusted input")
            if self.tainted:
                raise deny(f"irreversible tool {tool_name!r} refuses to run after this task read untrusted data")
        implementation: Callable[[BaseModel, ToolContext], Any] = resolve(spec.implementation)
        if not spec.output_trusted:
            self.tainted = True  # from the call on, whatever its outcome
        try:
            result = implementation(args, self._make_context(spec))
        except (ToolDenied, EgressDenied) as error:  # a refused resource, secret or destination is a denial
            self.denied = True
            record("denied", dumped, str(error))
            raise
        except Exception as error:
            record("error", dumped, f"{type(error).__name__}: {error}")
            raise
        record("ok", dumped)
        return result
