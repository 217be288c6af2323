"""The event-driven pattern (baton.triggers), derived from one workflow's `EventTrigger`.

  rule          on the trigger's catalog event bus, with its very event pattern, targeting:
  queue         the workflow's own trigger queue (SSE, TLS only), whose resource policy lets only that rule send,
                redriving to
  dead letters  its dead-letter queue after `max_receive_count` receives (an event the starter keeps refusing)
  starter       the workflow's starter function, on an SQS event source with partial batch responses
                (ReportBatchItemFailures), its role baton.iam.starter_role: consume this queue, write this workflow's
                start requests, start this workflow's executions

A rule targets the queue, not the state machine: a Step Functions target cannot name the execution (Baton names each
after its run, derived from the event id, so a duplicate delivery starts nothing), and a target's dead-letter queue
only receives events that could not be delivered, never those that fail validation.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from baton.catalog import WorkflowSpec
from baton.iam import Platform, PlatformRef, Ref, starter_role
from baton.infra.bundling import FunctionCode
from baton.infra.constructs.function import BatonFunction
from baton.infra.constructs.nag import acknowledge
from baton.settings import Settings

STARTER_TIMEOUT_SECONDS = 30
# AWS advises a source queue's visibility timeout of at least six times its function's timeout
VISIBILITY_TIMEOUT_SECONDS = 6 * STARTER_TIMEOUT_SECONDS
BATCH_SIZE = 10


class EventTriggers(Construct):
    """One subscribing workflow's rule, queue, dead-letter queue and starter function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workflow: WorkflowSpec,
        catalog_source: str,
        bus: events.IEventBus,
        state_table_name: str,
        state_machine_arn: str,
        resolve: Callable[[Ref], str],
        code: FunctionCode,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        (trigger,) = workflow.triggers
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        why = f"the dead-letter queue of workflow {workflow.name!r}'s trigger queue (events its starter refused)"
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", why)
        acknowledge(self.dead_letters, "Serverless-SQSRedrivePolicy", why + "; a redrive from it would loop")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(4),
            visibility_timeout=Duration.seconds(VISIBILITY_TIMEOUT_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=trigger.max_receive_count, queue=self.dead_letters),
            removal_policy=removal_policy,
        )
        self.rule = events.CfnRule(
            self,
            "Rule",
            description=f"Baton: events that start runs of workflow {workflow.name}",
            event_bus_name=bus.event_bus_name,
            event_pattern=dict(trigger.pattern),
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="TriggerQueue",
                    arn=self.queue.queue_arn,
                    # an event EventBridge could not deliver to the queue lands with those the starter refused
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
                    retry_policy=events.CfnRule.RetryPolicyProperty(maximum_retry_attempts=185),
                )
            ],
        )
        # only this rule may send to the queue and its dead letters (EventBridge, on behalf of this rule's ARN)
        for queue in (self.queue, self.dead_letters):
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="OnlyTheTriggerRuleSends",
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": self.rule.attr_arn}},
                )
            )

        def resolve_own(ref: Ref) -> str:
            if isinstance(ref, PlatformRef) and ref.kind is Platform.TRIGGER_QUEUE and ref.name == workflow.name:
                return self.queue.queue_arn
            return resolve(ref)

        settings = Settings(
            state_table=state_table_name,
            catalog=catalog_source,
            workflow=workflow.name,
            state_machines={workflow.name: state_machine_arn},
        )
        self.starter = BatonFunction(
            self,
            "Starter",
            kind="starter",
            catalog_source=catalog_source,
            description=f"Baton starter of workflow {workflow.name}: one run per event on its trigger queue",
            code=code,
            role_spec=lambda: starter_role(workflow),
            resolve=resolve_own,
            environment=settings.to_env(),
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout_seconds=STARTER_TIMEOUT_SECONDS,
        )
        self.starter.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True)
        )
        (mapping,) = [c for c in self.starter.function.node.children if isinstance(c, lambda_.EventSourceMapping)]
        acknowledge(
            mapping,
            "Serverless-LambdaEventSourceMappingDestination",
            "an SQS event source takes no on-failure destination: a record the starter fails is delivered again, and "
            "the queue's redrive policy moves it to its dead-letter queue after maxReceiveCount receives",
        )
