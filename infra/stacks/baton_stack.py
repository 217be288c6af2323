"""The Baton stack: the catalog's resources, one function and role per agent, one orchestration per
workflow, the workflow API. Every ARN a role names is resolved here from a baton.iam reference."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from baton.catalog import ResourceRef
from baton.children import SYNC_EVENTS_RULE_NAME, children_first
from baton.config import AppConfig, LoadedApp, app_config, load_app
from baton.iam import Platform, PlatformRef, Ref, pascal, session_role_name, session_roles
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.agent_function import AgentFunction
from baton.infra.constructs.api import WorkflowApi
from baton.infra.constructs.audit_archive import AuditArchive
from baton.infra.constructs.catalog_resources import CatalogResources
from baton.infra.constructs.event_triggers import EventTriggers
from baton.infra.constructs.orchestration import WorkflowOrchestration
from baton.infra.constructs.peer_access import PeerAccessRole
from baton.infra.constructs.roles import DerivedRole
from baton.infra.constructs.state_table import StateTable
from baton.model_iam import MODEL_REF_KINDS, model_arn


class BatonStack(Stack):
    """Everything one app's catalog declares, deployed: `BatonStack(app, "MyApp", catalog="myapp.catalog:CATALOG")`.

    `catalog` is a dotted path, several (merged), an AppConfig, or None for the [tool.baton] configuration of
    the app in the current directory.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: str | list[str] | AppConfig | LoadedApp | None = None,
        code: FunctionCode | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        audit_retention_days: int = 365,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if isinstance(catalog, LoadedApp):
            self.app = catalog
        elif isinstance(catalog, AppConfig):
            self.app = load_app(catalog)
        else:
            self.app = load_app(app_config(",".join(catalog) if isinstance(catalog, list) else catalog))
        self.catalog = self.app.catalog
        spec = self.catalog
        code = code or FunctionCode()
        common: dict[str, Any] = {"log_retention": log_retention, "removal_policy": removal_policy}
        self.state_table = StateTable(self, "State", removal_policy=removal_policy)
        table_name = self.state_table.table.table_name
        self.resources = CatalogResources(self, "Resources", catalog=spec, removal_policy=removal_policy)
        self.audit_archive = AuditArchive(
            self,
            "AuditArchive",
            table=self.state_table.table,
            retention_days=audit_retention_days,
            resolve=self.resolve_ref,
            code=code,
            **common,
        )

        # each tool's STS session role, by name: agents' roles name it before it exists (its trust names them)
        self.session_role_arns = {
            tool.name: self.resolve_ref(PlatformRef(kind=Platform.SESSION_ROLE, name=tool.name))
            for tool in spec.tools.values()
            if tool.session is not None
        }
        self.agents: dict[str, AgentFunction] = {}
        for agent in spec.agents.values():
            self.agents[agent.name] = AgentFunction(
                self,
                "Agent" + pascal(agent.name),
                catalog=spec,
                catalog_source=self.app.source_of_agent(agent.name),
                agent=agent,
                state_table_name=table_name,
                physical_ids=self.resources.physical_id,
                resolve=self.resolve_ref,
                code=code,
                session_roles=self.session_role_arns,
                **common,
            )
        self.session_roles = self._session_roles()
        agent_arns = {name: agent.function.function_arn for name, agent in self.agents.items()}

        self.workflows: dict[str, WorkflowOrchestration] = {}
        for workflow in children_first(spec.workflows):  # a parent names its child workflows' state machines
            self.workflows[workflow.name] = WorkflowOrchestration(
                self,
                "Workflow" + pascal(workflow.name),
                catalog=spec,
                catalog_source=self.app.source_of_workflow(workflow.name),
                workflow=workflow,
                state_table_name=table_name,
                agent_function_arns=agent_arns,
                resolve=self.resolve_ref,
                physical_ids=self.resources.physical_id,
                code=code,
                **common,
            )
        self.api = WorkflowApi(
            self,
            "Api",
            catalog=spec,
            catalog_source=self.app.config.env_value,
            workflow_sources=self.app.workflow_sources(),
            state_table_name=table_name,
            state_machine_arns={name: w.state_machine.state_machine_arn for name, w in self.workflows.items()},
            resolve=self.resolve_ref,
            code=code,
            **common,
        )

        # the event-driven pattern (baton.triggers): each subscribing workflow's rule, queue and starter function
        self.triggers: dict[str, EventTriggers] = {
            workflow.name: EventTriggers(
                self,
                "Trigger" + pascal(workflow.name),
                workflow=workflow,
                catalog_source=self.app.source_of_workflow(workflow.name),
                bus=self.resources.event_buses[workflow.triggers[0].bus],
                state_table_name=table_name,
                state_machine_arn=self.workflows[workflow.name].state_machine.state_machine_arn,
                resolve=self.resolve_ref,
                code=code,
                **common,
            )
            for workflow in spec.workflows.values()
            if workflow.triggers
        }

        # the federated pattern: each workflow's declared peers call it under a cross-account role of this account
        self.peer_roles = [
            PeerAccessRole(
                self, f"Peer{pascal(workflow.name)}{index}", workflow=workflow, trust=trust, api=self.api.rest_api
            )
            for workflow in spec.workflows.values()
            for index, trust in enumerate(workflow.trusted_peers)
        ]

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="base URL of the workflow API")
        CfnOutput(self, "StateTableName", value=table_name, description="the state table")
        CfnOutput(
            self,
            "AuditArchiveBucket",
            value=self.audit_archive.bucket.bucket_name,
            description=f"audit records, Object Lock (compliance) for {audit_retention_days} days",
        )
        for name, orchestration in self.workflows.items():
            CfnOutput(
                self,
                "StateMachine" + pascal(name),
                value=orchestration.state_machine.state_machine_arn,
                description=f"state machine of workflow {name}",
            )
            CfnOutput(
                self,
                "AuditKey" + pascal(name),
                value=orchestration.audit_key.key_arn,
                description=f"the key that signs the audit heads of workflow {name} (verify with its public key)",
            )

    def _session_roles(self) -> dict[str, DerivedRole]:
        """One role per tool declaring a session: its grant only, assumable by the roles of the agents using it."""
        roles: dict[str, DerivedRole] = {}
        for spec in session_roles(self.catalog):
            agents = [a for a in self.catalog.agents.values() if spec.name in a.tools]
            principals = [self.agents[a.name].derived_role.resource.role_arn for a in agents]
            roles[spec.name] = DerivedRole(
                self,
                "Session" + pascal(spec.name),
                spec=spec,
                service="sts.amazonaws.com",
                resolve=self.resolve_ref,
                role_name=session_role_name(self.stack_name, spec.name),
                assumed_by=iam.CompositePrincipal(*(iam.ArnPrincipal(arn) for arn in principals)),
            )
        return roles

    def resolve_ref(self, ref: Ref) -> str:
        """The ARN of a baton.iam reference (suffixes are appended by baton.iam)."""
        if isinstance(ref, ResourceRef):
            return self.resources.arn(ref)
        if ref.kind is Platform.STATE_TABLE:
            return self.state_table.table.table_arn
        if ref.kind is Platform.TRIGGER_QUEUE:
            return self.triggers[ref.name].queue.queue_arn
        if ref.kind is Platform.AGENT_FUNCTION:
            return self.agents[ref.name].function.function_arn
        if ref.kind is Platform.ORCHESTRATOR_FUNCTION:
            return self.workflows[ref.name].orchestrator.function.function_arn
        if ref.kind is Platform.STATE_MACHINE:
            return self.workflows[ref.name].state_machine.state_machine_arn
        if ref.kind is Platform.STATE_MACHINE_EXECUTIONS:  # arn:...:execution:<state machine name> (baton.children)
            machine = self.workflows[ref.name].state_machine.state_machine_arn
            name = Fn.select(6, Fn.split(":", machine))
            return f"arn:{self.partition}:states:{self.region}:{self.account}:execution:{name}"
        if ref.kind is Platform.SYNC_EVENTS_RULE:
            return f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{SYNC_EVENTS_RULE_NAME}"
        if ref.kind is Platform.SESSION_ROLE:
            name = session_role_name(self.stack_name, ref.name)
            return f"arn:{self.partition}:iam::{self.account}:role/{name}"
        if ref.kind is Platform.PEER_ROLE:  # another account's role (the federated pattern): its declared ARN
            return ref.name
        if ref.kind.value in MODEL_REF_KINDS:
            # a Bedrock model, inference profile or guardrail: in this stack's partition, region and account
            # (a foundation model's name may name another region: an inference profile's destinations)
            return model_arn(
                ref.kind.value, ref.name, partition=self.partition, region=self.region, account=self.account
            )
        raise ValueError(f"{ref!r} has no ARN at stack level")


__all__ = ["BatonStack", "PlatformRef"]
