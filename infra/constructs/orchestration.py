"""One workflow's orchestration: its audit signing key, its orchestrator function, the state machine that
runs it, and the rule that closes runs whose execution ended outside the orchestrator's hands."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from baton.catalog import Catalog, WorkflowSpec
from baton.iam import Platform, PlatformRef, Ref, orchestrator_role, state_machine_role
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.function import BatonFunction
from baton.infra.constructs.nag import acknowledge
from baton.infra.constructs.roles import DerivedRole
from baton.planner import orchestrator_timeout_seconds
from baton.settings import Settings
from baton.statemachine import definition_file


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
        physical_ids: Callable[[str], str] | None = None,
        code: FunctionCode,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workflow = workflow
        # a fixed name, so that the key policy can name the role without depending on it (the role's own
        # policy names the key: a reference both ways would be a dependency cycle)
        orchestrator_role_name = _role_name(Stack.of(self).stack_name, workflow.name)
        self.audit_key = _audit_key(self, workflow.name, orchestrator_role_name)
        functions = {agent: agent_function_arns[agent] for agent in workflow.agents}
        # the queue or topic that tells the workflow's approvers (the orchestrator's only catalog resource)
        notify = workflow.approvals.notify if workflow.approvals is not None else None
        if notify is not None and physical_ids is None:
            raise ValueError(f"workflow {workflow.name!r} notifies approvers: its orchestration needs physical_ids")
        settings = Settings(
            state_table=state_table_name,
            catalog=catalog_source,
            workflow=workflow.name,
            agent_functions=functions,
            audit_key=self.audit_key.key_arn,
            resources={} if notify is None or physical_ids is None else {notify.name: physical_ids(notify.name)},
            # the state machines of its child workflows (baton.children): deployed before this one
            child_state_machines={
                c: resolve(PlatformRef(kind=Platform.STATE_MACHINE, name=c)) for c in workflow.children
            },
        )

        def resolve_key(ref: Ref) -> str:
            if isinstance(ref, PlatformRef) and ref.kind is Platform.AUDIT_KEY:
                return self.audit_key.key_arn
            return resolve(ref)

        self.orchestrator = BatonFunction(
            self,
            "Orchestrator",
            kind="orchestrator",
            catalog_source=catalog_source,
            description=f"Baton orchestrator of workflow {workflow.name}",
            code=code,
            role_spec=lambda: orchestrator_role(catalog, workflow),
            resolve=resolve_key,
            role_name=orchestrator_role_name,
            environment=settings.to_env(),
            log_retention=log_retention,
            removal_policy=removal_policy,
            # a model planner waits for model calls: baton.planner.orchestrator_timeout_seconds (60 s or 300 s)
            timeout_seconds=orchestrator_timeout_seconds(workflow),
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
            # Express: the definition without the approval wait (an Express state machine refuses a task token)
            definition_body=sfn.DefinitionBody.from_file(str(definition_file(workflow.execution))),
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
        self.reconcile_rule, self.reconcile_dead_letters = self._reconcile_rule()

    def _reconcile_rule(self) -> tuple[events.Rule, sqs.Queue]:
        """Close runs whose execution ended outside the orchestrator's hands.

        Standard: a rule on the execution's status change (FAILED, TIMED_OUT, ABORTED). Express executions
        emit no such events: a schedule asks the orchestrator to sweep its open runs past their deadline.
        """
        dead_letters = sqs.Queue(
            self,
            "ReconcileDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            dead_letters,
            "AwsSolutions-SQS3",
            "this queue is the dead-letter queue of the reconcile rule's target; it has no DLQ of its own",
        )
        acknowledge(
            dead_letters,
            "Serverless-SQSRedrivePolicy",
            "this queue is the dead-letter queue of the reconcile rule's target; a redrive would loop",
        )

        def target(event: events.RuleTargetInput | None = None) -> targets.LambdaFunction:
            return targets.LambdaFunction(
                self.orchestrator.function,
                event=event,
                retry_attempts=4,
                max_event_age=Duration.hours(2),
                dead_letter_queue=dead_letters,
            )

        if self.workflow.execution == "express":
            rule = events.Rule(
                self,
                "ReconcileRule",
                description=f"Baton: close runs of Express workflow {self.workflow.name} past their deadline",
                schedule=events.Schedule.rate(Duration.minutes(5)),
                targets=[target(events.RuleTargetInput.from_object({"sweep": True}))],
            )
            return rule, dead_letters
        rule = events.Rule(
            self,
            "ReconcileRule",
            description=f"Baton: close runs of workflow {self.workflow.name} whose execution ended abnormally",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            targets=[target()],
        )
        return rule, dead_letters


def _role_name(stack_name: str, workflow: str) -> str:
    """A role name unique per stack and workflow, within IAM's 64 characters."""
    digest = hashlib.sha256(f"{stack_name}/{workflow}".encode()).hexdigest()[:8]
    return f"{stack_name[:16]}-{workflow[:24]}-{digest}-orchestrator"


def _audit_key(scope: Construct, workflow: str, orchestrator_role_name: str) -> kms.Key:
    """The workflow's audit signing key: only its orchestrator role may sign; the account may verify and manage.

    Account administrators keep kms:PutKeyPolicy (a key no one can manage is refused by KMS); changing the
    policy to let someone else sign is then an act CloudTrail records, not a silent grant.
    """
    account = iam.AccountRootPrincipal()
    orchestrator_arn = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{orchestrator_role_name}"
    policy = iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                sid="KeyAdministration",
                principals=[account],
                # no kms:CreateGrant: a grant would let another principal sign, past the statement below
                actions=[
                    "kms:CancelKeyDeletion",
                    "kms:CreateAlias",
                    "kms:Delete*",
                    "kms:Describe*",
                    "kms:Disable*",
                    "kms:Enable*",
                    "kms:Get*",
                    "kms:List*",
                    "kms:Put*",
                    "kms:Revoke*",
                    "kms:ScheduleKeyDeletion",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:Update*",
                ],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="AnyoneInTheAccountMayVerify",
                principals=[account],
                actions=["kms:Verify"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="OnlyTheOrchestratorSigns",
                principals=[account],
                actions=["kms:Sign"],
                resources=["*"],
                conditions={"StringEquals": {"aws:PrincipalArn": orchestrator_arn}},
            ),
        ]
    )
    key = kms.Key(
        scope,
        "AuditKey",
        description=f"Baton: signs the audit heads of workflow {workflow}",
        key_spec=kms.KeySpec.ECC_NIST_P256,
        key_usage=kms.KeyUsage.SIGN_VERIFY,
        policy=policy,
        # signatures must stay verifiable for as long as the archive keeps the records
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(
        key,
        "AwsSolutions-KMS5",
        "an asymmetric signing key cannot rotate automatically; old signatures stay verifiable with the same key",
    )
    return key
