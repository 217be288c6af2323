"""The state table: every run's state, tasks, journal and audit chain (keys: see baton.state)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from baton import keys

TTL_ATTRIBUTE = "expires_at"


class StateTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            # audit records flow from here to the Object Lock archive (the archiver function)
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            deletion_protection=removal_policy is RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        # sparse: only the run records of running Express runs carry its keys (see baton.keys)
        self.table.add_global_secondary_index(
            index_name=keys.OPEN_RUNS_INDEX,
            partition_key=dynamodb.Attribute(name=keys.OPEN_WORKFLOW, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=keys.OPEN_DEADLINE, type=dynamodb.AttributeType.NUMBER),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
