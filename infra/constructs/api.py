"""The workflow API: API Gateway REST API (IAM authorization, request validation, throttling, access
logs, tracing) in front of the api function (see baton.api for the routes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from baton.catalog import Catalog
from baton.iam import Ref, api_role
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.function import BatonFunction
from baton.infra.constructs.nag import acknowledge
from baton.settings import Settings

STAGE = "v1"
THROTTLE_RATE = 50
THROTTLE_BURST = 100
START_RUN_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="StartRun",
    type=apigw.JsonSchemaType.OBJECT,
    required=["input"],
    additional_properties=False,
    properties={"input": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT)},
)
# POST /runs/{run_id}/approvals (baton.approvals.DecisionBody): checked again, field by field, by the function
DECISION_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="ApprovalDecision",
    type=apigw.JsonSchemaType.OBJECT,
    required=["decision"],
    additional_properties=False,
    properties={
        "approval_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^ap-[0-9a-f]{20}$"),
        "arguments_sha256": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[0-9a-f]{64}$"),
        "decision": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, enum=["approve", "reject"]),
        "reason": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, max_length=1000),
    },
)


class WorkflowApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        catalog_source: str,
        workflow_sources: Mapping[str, str],
        state_table_name: str,
        state_machine_arns: Mapping[str, str],
        resolve: Callable[[Ref], str],
        code: FunctionCode,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = Settings(
            state_table=state_table_name,
            workflow_catalogs=dict(workflow_sources),
            state_machines=dict(state_machine_arns),
        )
        self.handler = BatonFunction(
            self,
            "Handler",
            kind="api",
            catalog_source=catalog_source,
            description="Baton workflow API: starts runs, reports them, takes decisions on their approvals",
            code=code,
            role_spec=lambda: api_role(catalog),
            resolve=resolve,
            environment=settings.to_env(),
            log_retention=log_retention,
            removal_policy=removal_policy,
            memory_mb=512,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            description="Baton: start workflow runs and read their status (IAM authorization)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal_policy,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=THROTTLE_RATE,
                throttling_burst_limit=THROTTLE_BURST,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        integration = apigw.LambdaIntegration(self.handler.function, proxy=True, allow_test_invoke=False)
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        start_run = self.rest_api.add_model(
            "StartRunModel", content_type="application/json", model_name="StartRun", schema=START_RUN_SCHEMA
        )
        runs = self.rest_api.root.add_resource("workflows").add_resource("{name}").add_resource("runs")
        self.start_run_method = runs.add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": start_run},
            request_parameters={
                "method.request.path.name": True,
                "method.request.header.Idempotency-Key": False,
            },
        )
        run = self.rest_api.root.add_resource("runs").add_resource("{run_id}")
        self.get_run_method = run.add_method(
            "GET",
            integration,
            request_validator=validator,
            request_parameters={"method.request.path.run_id": True},
        )
        methods = [self.start_run_method, self.get_run_method]
        self.decide_method: apigw.Method | None = None
        if any(workflow.approvals is not None for workflow in catalog.workflows.values()):
            decision = self.rest_api.add_model(
                "DecisionModel", content_type="application/json", model_name="ApprovalDecision", schema=DECISION_SCHEMA
            )
            self.decide_method = run.add_resource("approvals").add_method(
                "POST",
                integration,
                request_validator=validator,
                request_models={"application/json": decision},
                request_parameters={"method.request.path.run_id": True},
            )
            methods.append(self.decide_method)
        for method in methods:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "the API uses AWS_IAM authorization (SigV4): callers are IAM principals, not Cognito users",
            )
        acknowledge(
            self.rest_api.deployment_stage,
            "AwsSolutions-APIG3",
            "no WAF web ACL in the kit: every method requires SigV4-signed IAM credentials and the stage is "
            "throttled; attach a web ACL to the stage where the account has one",
        )
        cloud_watch_role = self.rest_api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            acknowledge(
                cloud_watch_role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "the account-level role API Gateway needs to write execution logs (AWS::ApiGateway::Account); "
                "AWS documents this managed policy for it, and no Baton function uses this role",
            )
