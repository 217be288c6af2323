"""The resources the catalog declares (tables, secrets, queues, topics, parameters), each encrypted."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from baton.catalog import Catalog, ResourceKind, ResourceRef, ResourceSpec
from baton.infra.constructs.nag import acknowledge

SECRET_ROTATION_DAYS = 30


class CatalogResources(Construct):
    """Creates every catalog resource; `physical_id` and `arn` answer for them by catalog name."""

    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self.tables: dict[str, dynamodb.Table] = {}
        self.secrets: dict[str, secretsmanager.Secret] = {}
        self.queues: dict[str, sqs.Queue] = {}
        self.topics: dict[str, sns.Topic] = {}
        self.parameters: dict[str, ssm.StringParameter] = {}
        self.event_buses: dict[str, events.EventBus] = {}
        # secrets holding OAuth client credentials (baton.credentials): created as {"client_id", "client_secret"}
        self._client_credentials = {t.oauth.secret for t in catalog.tools.values() if t.oauth is not None}
        for spec in catalog.resources.values():
            self._create(spec)

    def _create(self, spec: ResourceSpec) -> None:
        construct_id = "".join(part.capitalize() for part in spec.name.split("_"))
        if spec.kind is ResourceKind.TABLE:
            self.tables[spec.name] = self._table(construct_id, spec)
        elif spec.kind is ResourceKind.SECRET:
            self.secrets[spec.name] = self._secret(construct_id, spec)
        elif spec.kind is ResourceKind.QUEUE:
            self.queues[spec.name] = self._queue(construct_id, spec)
        elif spec.kind is ResourceKind.EVENT_BUS:
            # named under the stack (a bus name is unique in the account and region); its rules: the triggers
            self.event_buses[spec.name] = events.EventBus(
                self, f"{construct_id}EventBus", event_bus_name=f"{Stack.of(self).stack_name}-{spec.name}"
            )
        elif spec.kind is ResourceKind.TOPIC:
            self.topics[spec.name] = sns.Topic(
                self,
                f"{construct_id}Topic",
                display_name=spec.description[:100],
                # the AWS managed key: publishers in the account need no kms statement
                master_key=kms.Alias.from_alias_name(self, f"{construct_id}TopicKey", "alias/aws/sns"),
                enforce_ssl=True,
            )
        else:
            self.parameters[spec.name] = ssm.StringParameter(
                self,
                f"{construct_id}Parameter",
                # named under the stack, so operators find it and every tool can address it the same way
                parameter_name=f"/{Stack.of(self).stack_name}/{spec.name}",
                description=spec.description,
                string_value=spec.value or "",
                tier=ssm.ParameterTier.STANDARD,
            )

    def _table(self, construct_id: str, spec: ResourceSpec) -> dynamodb.Table:
        assert spec.partition_key is not None  # noqa: S101 - build_catalog guarantees it
        return dynamodb.Table(
            self,
            f"{construct_id}Table",
            partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING) if spec.sort_key else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=self._removal_policy is RemovalPolicy.RETAIN,
            removal_policy=self._removal_policy,
        )

    def _secret(self, construct_id: str, spec: ResourceSpec) -> secretsmanager.Secret:
        # client credentials get their shape at creation; the operator puts the provider's id and secret in
        template = None
        if spec.name in self._client_credentials:
            template = secretsmanager.SecretStringGenerator(
                secret_string_template='{"client_id": "set-the-client-id"}',  # noqa: S106 (a shape, no secret)
                generate_string_key="client_secret",
            )
        secret = secretsmanager.Secret(
            self,
            f"{construct_id}Secret",
            description=spec.description,
            removal_policy=self._removal_policy,
            generate_secret_string=template,
        )
        if spec.rotation_function_arn:
            rotator = lambda_.Function.from_function_arn(self, f"{construct_id}Rotator", spec.rotation_function_arn)
            secret.add_rotation_schedule(
                "Rotation",
                rotation_lambda=rotator,
                automatically_after=Duration.days(spec.rotation_days or SECRET_ROTATION_DAYS),
            )
            # the rotation function's permission to rotate this secret, and only this one (a function imported by
            # ARN has no role CDK can add to: its resource policy lets Secrets Manager invoke it for this secret,
            # and the secret's resource policy lets the function's role write its versions)
            lambda_.CfnPermission(
                self,
                f"{construct_id}RotatorInvoke",
                action="lambda:InvokeFunction",
                function_name=spec.rotation_function_arn,
                principal="secretsmanager.amazonaws.com",
                source_account=Stack.of(self).account,
                source_arn=secret.secret_arn,
            )
        else:
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                f"the catalog names no rotation function for secret {spec.name!r} (a third-party API key, "
                "rotated at its provider); set ResourceSpec.rotation_function_arn to add a rotation schedule",
            )
        return secret

    def _queue(self, construct_id: str, spec: ResourceSpec) -> sqs.Queue:
        dead_letters = sqs.Queue(
            self,
            f"{construct_id}DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            dead_letters,
            "AwsSolutions-SQS3",
            f"this queue is the dead-letter queue of catalog queue {spec.name!r}",
        )
        acknowledge(
            dead_letters,
            "Serverless-SQSRedrivePolicy",
            f"this queue is the dead-letter queue of catalog queue {spec.name!r}; a redrive from it would loop",
        )
        return sqs.Queue(
            self,
            f"{construct_id}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=dead_letters),
        )

    # ------------------------------------------------------------ lookups by catalog name

    def physical_id(self, name: str) -> str:
        """What the handlers expect in BATON_RESOURCES (see baton.settings)."""
        if name in self.tables:
            return self.tables[name].table_name
        if name in self.secrets:
            return self.secrets[name].secret_arn
        if name in self.queues:
            return self.queues[name].queue_url
        if name in self.topics:
            return self.topics[name].topic_arn
        if name in self.event_buses:  # PutEvents takes a bus's name or ARN: its ARN, as offline
            return self.event_buses[name].event_bus_arn
        return self.parameters[name].parameter_name

    def arn(self, ref: ResourceRef) -> str:
        """The ARN an IAM statement on this resource names (the reference's suffix is appended by baton.iam)."""
        if ref.kind is ResourceKind.TABLE:
            return self.tables[ref.name].table_arn
        if ref.kind is ResourceKind.SECRET:
            return self.secrets[ref.name].secret_arn
        if ref.kind is ResourceKind.QUEUE:
            return self.queues[ref.name].queue_arn
        if ref.kind is ResourceKind.TOPIC:
            return self.topics[ref.name].topic_arn
        if ref.kind is ResourceKind.EVENT_BUS:
            return self.event_buses[ref.name].event_bus_arn
        return self.parameters[ref.name].parameter_arn
