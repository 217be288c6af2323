"""The audit archive: audit records copied from the state table's stream into an S3 bucket with Object Lock
in compliance mode, so that no one (the account's root included) can delete or rewrite them before their
retention ends. What they hold is identifiers and hashes only (see baton.audit)."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from baton.iam import Platform, PlatformRef, Ref, archiver_role
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.function import BatonFunction
from baton.infra.constructs.nag import acknowledge
from baton.keys import AUDIT_PREFIX
from baton.settings import Settings


class AuditArchive(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.Table,
        retention_days: int,
        resolve: Callable[[Ref], str],
        code: FunctionCode,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(retention_days)),
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # the archive outlives the stack: Object Lock would refuse its deletion anyway
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "the archive is written only by the archiver function and is immutable (Object Lock); reads are "
            "audited with CloudTrail data events where the account enables them, not with access-log buckets",
        )
        self.failures = sqs.Queue(
            self,
            "Failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.failures, "AwsSolutions-SQS3", "this queue is the archiver's on-failure destination")
        acknowledge(
            self.failures,
            "Serverless-SQSRedrivePolicy",
            "this queue is the archiver's on-failure destination; a redrive from it would loop",
        )
        stream_arn = table.table_stream_arn
        if stream_arn is None:
            raise ValueError("the state table has no stream")

        def resolve_here(ref: Ref) -> str:
            if isinstance(ref, PlatformRef) and ref.kind is Platform.ARCHIVE_BUCKET:
                return self.bucket.bucket_arn
            if isinstance(ref, PlatformRef) and ref.kind is Platform.ARCHIVE_FAILURES:
                return self.failures.queue_arn
            if isinstance(ref, PlatformRef) and ref.kind is Platform.STATE_TABLE_STREAM:
                return str(stream_arn)
            return resolve(ref)

        settings = Settings(state_table=table.table_name, archive_bucket=self.bucket.bucket_name)
        self.archiver = BatonFunction(
            self,
            "Archiver",
            kind="archiver",
            catalog_source="",
            description="Baton archiver: audit records into the Object Lock bucket",
            code=code,
            role_spec=archiver_role,
            resolve=resolve_here,
            environment=settings.to_env(),
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        self.mapping = lambda_.EventSourceMapping(
            self,
            "StreamMapping",
            target=self.archiver.function,
            event_source_arn=stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=1000,
            # a minute of records per batch: a run's commits mostly share one batch, so one object per run
            max_batching_window=Duration.seconds(60),
            bisect_batch_on_error=True,
            retry_attempts=10,
            report_batch_item_failures=False,
            filters=[
                lambda_.FilterCriteria.filter(
                    {
                        "eventName": lambda_.FilterRule.or_("INSERT", "MODIFY"),
                        "dynamodb": {"Keys": {"sk": {"S": lambda_.FilterRule.begins_with(AUDIT_PREFIX)}}},
                    }
                )
            ],
            # the queue's send permission is in the derived role (CDK's own grant is dropped with the role)
            on_failure=event_sources.SqsDlq(self.failures),
        )
