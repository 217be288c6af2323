"""One agent: its Lambda function and its own role, derived from the tools it declares."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from baton.bundle import uses_mcp
from baton.catalog import AgentSpec, Catalog
from baton.iam import Ref, agent_role
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.function import BatonFunction
from baton.settings import Settings


class AgentFunction(BatonFunction):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        catalog_source: str,
        agent: AgentSpec,
        state_table_name: str,
        physical_ids: Callable[[str], str],
        resolve: Callable[[Ref], str],
        code: FunctionCode,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        session_roles: dict[str, str] | None = None,
    ) -> None:
        # only the resources its tools reference, as the offline engine does (baton.local.engine)
        resources = {resource.name: physical_ids(resource.name) for resource in catalog.resources_of(agent)}
        # a tool with an STS session: the role it assumes, and the ARN its session policy names
        sessions = {t.name: t.session for t in catalog.tools_of(agent) if t.session is not None}
        settings = Settings(
            state_table=state_table_name,
            catalog=catalog_source,
            agent=agent.name,
            resources=resources,
            session_roles={name: (session_roles or {})[name] for name in sessions},
            resource_arns={grant.resource.name: resolve(grant.resource) for grant in sessions.values()},
        )
        super().__init__(
            scope,
            construct_id,
            kind="agent",
            catalog_source=catalog_source,
            description=f"Baton agent {agent.name}: {agent.description}"[:256],
            code=code,
            role_spec=lambda: agent_role(catalog, agent),
            resolve=resolve,
            environment=settings.to_env(),
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout_seconds=agent.timeout_seconds,
            memory_mb=agent.memory_mb,
            reserved_concurrency=agent.reserved_concurrency,
            # the Cedar engine ships only with the functions of agents under tool-call policies (baton.policy)
            policy_engine=agent.policies is not None,
            # the MCP SDK ships only with the functions of agents with an MCP tool (baton.mcp)
            mcp_client=uses_mcp(catalog, agent.name),
        )
        self.agent = agent
