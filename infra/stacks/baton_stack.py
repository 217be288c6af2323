"""The Baton stack: the catalog's resources, one function and role per agent, one orchestration per
workflow, the workflow API. Every ARN a role names is resolved here from a baton.iam reference."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from baton.catalog import ResourceRef
from baton.config import AppConfig, LoadedApp, app_config, load_app
from baton.iam import Platform, PlatformRef, Ref, pascal
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.agent_function import AgentFunction
from baton.infra.constructs.api import WorkflowApi
from baton.infra.constructs.audit_archive import AuditArchive
from baton.infra.constructs.catalog_resources import CatalogResources
from baton.infra.constructs.orchestration import WorkflowOrchestration
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
                **common,
            )
        agent_arns = {name: agent.function.function_arn for name, agent in self.agents.items()}

        self.workflows: dict[str, WorkflowOrchestration] = {}
        for workflow in spec.workflows.values():
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
            state_table_name=table_name,
            state_machine_arns={name: w.state_machine.state_machine_arn for name, w in self.workflows.items()},
            resolve=self.resolve_ref,
            code=code,
            **common,
        )

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

    def resolve_ref(self, ref: Ref) -> str:
        """The ARN of a baton.iam reference (suffixes are appended by baton.iam)."""
        if isinstance(ref, ResourceRef):
            return self.resources.arn(ref)
        if ref.kind is Platform.STATE_TABLE:
            return self.state_table.table.table_arn
        if ref.kind is Platform.AGENT_FUNCTION:
            return self.agents[ref.name].function.function_arn
        if ref.kind is Platform.ORCHESTRATOR_FUNCTION:
            return self.workflows[ref.name].orchestrator.function.function_arn
        if ref.kind is Platform.STATE_MACHINE:
            return self.workflows[ref.name].state_machine.state_machine_arn
        if ref.kind.value in MODEL_REF_KINDS:
            # a Bedrock model, inference profile or guardrail: in this stack's partition, region and account
            # (a foundation model's name may name another region: an inference profile's destinations)
            return model_arn(
                ref.kind.value, ref.name, partition=self.partition, region=self.region, account=self.account
            )
        raise ValueError(f"{ref!r} has no ARN at stack level")


__all__ = ["BatonStack", "PlatformRef"]
