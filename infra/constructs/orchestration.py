"""One workflow's orchestration: its orchestrator function and the state machine that runs it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from baton.catalog import Catalog, WorkflowSpec
from baton.iam import Platform, PlatformRef, Ref, orchestrator_role, state_machine_role
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.function import BatonFunction
from baton.infra.constructs.roles import DerivedRole
from baton.settings import Settings
from baton.statemachine import DEFINITION_FILE


class WorkflowOrchestration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        catalog_source: str,
        workflow: WorkflowSpec,
        state_table_name: str,
        agent_function_arns: Mapping[str, str],
        resolve: Callable[[Ref], str],
        code: FunctionCode,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workflow = workflow
        functions = {agent: agent_function_arns[agent] for agent in workflow.agents}
        settings = Settings(
            state_table=state_table_name, catalog=catalog_source, workflow=workflow.name, agent_functions=functions
        )
        self.orchestrator = BatonFunction(
            self,
            "Orchestrator",
            kind="orchestrator",
            catalog_source=catalog_source,
            description=f"Baton orchestrator of workflow {workflow.name}",
            code=code,
            role_spec=lambda: orchestrator_role(catalog, workflow),
            resolve=resolve,
            environment=settings.to_env(),
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout_seconds=60,
            memory_mb=512,
        )

        def resolve_here(ref: Ref) -> str:
            if isinstance(ref, PlatformRef) and ref.kind is Platform.ORCHESTRATOR_FUNCTION:
                return self.orchestrator.function.function_arn
            return resolve(ref)

        self.log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            # the vended-logs prefix keeps CloudWatch Logs' resource policy small
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-{workflow.name}",
            retention=log_retention,
            removal_policy=removal_policy,
        )
        self.derived_role = DerivedRole(
            self,
            "StateMachineRole",
            spec=state_machine_role(catalog, workflow),
            service="states.amazonaws.com",
            resolve=resolve_here,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=f"Baton workflow {workflow.name}: {workflow.description}",
            definition_body=sfn.DefinitionBody.from_file(str(DEFINITION_FILE)),
            definition_substitutions={
                "OrchestratorFunctionArn": self.orchestrator.function.function_arn,
                "StateTableName": state_table_name,
            },
            role=self.derived_role.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            state_machine_type=(
                sfn.StateMachineType.EXPRESS if workflow.execution == "express" else sfn.StateMachineType.STANDARD
            ),
        )
