"""A Baton Lambda function: Python 3.13 on arm64, Powertools environment, active tracing, its own log
group with retention, and its own role holding exactly the statements baton.iam derives for it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from baton.bundle import PYTHON_VERSION
from baton.iam import Platform, PlatformRef, Ref, RoleSpec
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.nag import acknowledge
from baton.infra.constructs.roles import DerivedRole
from baton.settings import RUNTIME_ENV

RUNTIME = lambda_.Runtime.PYTHON_3_13
RUNTIME_VERSION = PYTHON_VERSION


# who invokes each kind of function (synchronously, or through an event source with its own failure handling)
_INVOKERS = {
    "api": "by API Gateway",
    "agent": "by its workflow's state machine, whose Retry/Catch records failures",
    "orchestrator": "by its workflow's state machine, whose Catch closes the run; the execution-status rule "
    "invokes it asynchronously with its own retries and dead-letter queue",
    "archiver": "by its event source mapping on the state table's stream, which retries and sends what still "
    "fails to its own on-failure queue",
    "starter": "by its event source mapping on its workflow's trigger queue, whose redrive policy moves a record that "
    "keeps failing to the queue's own dead-letter queue",
}


class BatonFunction(Construct):
    """One Lambda function of kind agent, orchestrator, api or archiver (baton.functions.<kind>.handler.handler)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        kind: str,
        catalog_source: str,
        description: str,
        code: FunctionCode,
        role_spec: Callable[[], RoleSpec],
        resolve: Callable[[Ref], str],
        role_name: str | None = None,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        timeout_seconds: int = 30,
        memory_mb: int = 256,
        reserved_concurrency: int | None = None,
        policy_engine: bool = False,
        mcp_client: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=removal_policy)

        def resolve_own(ref: Ref) -> str:
            if isinstance(ref, PlatformRef) and ref.kind is Platform.OWN_LOG_GROUP:
                return self.log_group.log_group_arn
            return resolve(ref)

        self.derived_role = DerivedRole(
            self,
            "Execution",
            spec=role_spec(),
            service="lambda.amazonaws.com",
            resolve=resolve_own,
            role_name=role_name,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"baton.functions.{kind}.handler.handler",
            code=code.for_function(kind, catalog_source, policy_engine=policy_engine, mcp_client=mcp_client),
            role=self.derived_role.role,
            environment={**RUNTIME_ENV, **environment},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_mb,
            reserved_concurrent_executions=reserved_concurrency,
        )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            f"the {kind} function is only invoked synchronously ("
            + _INVOKERS[kind]
            + "), so a dead-letter queue for asynchronous invocations would never receive anything",
        )
        pinned = (
            f"Python {RUNTIME_VERSION} is the runtime Baton pins: its dependencies are bundled as "
            f"cp{RUNTIME_VERSION.replace('.', '')} wheels for this runtime, and moving to a newer runtime is a "
            "deliberate change of that pin, not a drift"
        )
        acknowledge(self.function, "AwsSolutions-L1", pinned)
        acknowledge(self.function, "Serverless-LambdaLatestVersion", pinned)
