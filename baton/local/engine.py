"""LocalEngine: the whole deployment, offline, in one process.

moto plays DynamoDB, Secrets Manager, SSM, SQS, SNS, KMS, STS, Lambda and Step Functions. moto's Step
Functions interpreter executes statemachines/orchestration.asl.json itself; when it invokes a function, the
real handler of that orchestrator or agent runs in-process with that function's own environment and its own
boto3 session (whose AWS calls are recorded, to compare with the IAM derived for the function).

Bedrock is played by model doubles (baton.local.model_doubles): a function's Converse calls go through its real
boto3 bedrock-runtime client (validated by botocore, recorded like any call) and are answered by the double
registered for it: by agent name, or "planner:<workflow>" for a workflow's planner (its orchestrator's calls).
Register doubles with `LocalEngine(models={...})` or `engine.use_model(name, double)`, at any time (a workflow's
offline fixture may register its default; doubles given to the constructor win over a fixture's). A Converse
call with no double registered fails with NoModelDouble, naming the caller.

Human approval: a run that waits for people waits on moto's `.waitForTaskToken` as on AWS. `engine.decide(...)`
takes a decision through the API's own path (POST /runs/{run_id}/approvals), by default as the workflow's first
declared approver role (never the offline starter, LOCAL_CALLER); `engine.wait(..., on_approval=...)` asks a
callback about each approval as it is asked for. Time can be moved instead of waited for: `engine.advance_clock`
moves the process's clock (baton.clock) and ends the wait of a run whose approvals have all expired by then, as
the wait state's timeout does on AWS at the earliest expiry.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws

from baton import clock, keys
from baton.approvals import Approval, ApprovalState
from baton.aws import AwsClients
from baton.catalog import resolve
from baton.config import AppConfig, LoadedApp, app_config, load_app
from baton.functions.orchestrator.handler import STATUS_CHANGE
from baton.local import moto_patches
from baton.local.functions import API_FUNCTION, model_key, orchestrator_function_name
from baton.local.http import LocalHttpTransport
from baton.local.model_doubles import ModelDouble, NoModelDouble, attach
from baton.local.provisioning import STATE_TABLE, HandlerWrapper, Provisioner
from baton.models import RunStatus, TaskOutcome
from baton.runs import RunRecord, read_run
from baton.runtime import build_api
from baton.settings import Settings
from baton.signing import public_key_pem

REGION = "us-east-1"
ACCOUNT = "123456789012"
# who starts runs offline (the API would take it from the request's SigV4 identity)
LOCAL_CALLER = f"arn:aws:iam::{ACCOUNT}:user/baton-local"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_POLL_MIN_SECONDS = 0.005
_POLL_MAX_SECONDS = 0.1
_POLL_SHARE = 0.05  # of the time waited so far
_MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


@dataclass(frozen=True)
class AwsCall:
    function: str
    service: str
    operation: str


@dataclass(frozen=True)
class AwsCallDetail:
    """One AWS call a function made, with its request parameters and parsed response (for measurement)."""

    function: str
    service: str
    operation: str
    params: dict[str, Any]
    response: dict[str, Any]


CallHook = Callable[[AwsCallDetail], None]
# asked about each approval a run waits for: ("approve" | "reject", reason), or None to leave it to someone else
ApprovalCallback = Callable[[Approval], tuple[str, str] | None]


class LocalEngine:
    """Context manager: provisions the catalog in moto on enter, tears everything down on exit."""

    def __init__(
        self,
        catalog: str | AppConfig | LoadedApp | None = None,
        wrap_handler: HandlerWrapper | None = None,
        on_call: CallHook | None = None,
        models: dict[str, ModelDouble] | None = None,
    ) -> None:
        if isinstance(catalog, LoadedApp):  # e.g. baton.local.reach: only what one workflow's run may reach
            self.app = catalog
        else:
            self.app = load_app(catalog if isinstance(catalog, AppConfig) else app_config(catalog))
        self.catalog = self.app.catalog
        self.http = LocalHttpTransport()
        self.fixtures: dict[str, Any] = {}
        # the model double answering each agent's (or "planner:<workflow>") Converse calls
        self.models: dict[str, ModelDouble] = {}
        self._chosen_models = dict(models or {})
        self._models_lock = threading.Lock()
        self.aws_calls: list[AwsCall] = []
        self._calls_lock = threading.Lock()
        self._wrap = wrap_handler or (lambda _name, handler: handler)
        self._on_call = on_call
        # also told of each AWS call a function makes, from when they are added (`add_call_hook`)
        self._call_hooks: list[CallHook] = []
        self._on_exit: list[Callable[[], None]] = []
        self._saved_env: dict[str, str | None] = {}
        self._mock: Any = None
        self._decided: set[str] = set()  # approvals wait() has asked its callback about

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalEngine:
        for key, value in _FAKE_ENV.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._mock = mock_aws(config=_MOTO_CONFIG)  # type: ignore[call-overload]
        self._mock.start()
        moto_patches.install()
        # moto's interpreter logs each failed state with a stack dump; the run record tells the story
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        try:
            self._session = boto3.Session(region_name=REGION)
            self.clients = AwsClients(self._session)
            provisioner = Provisioner(self.app, self.clients, self._recording_clients, self.http, self._wrap)
            self.deployment = provisioner.provision()
            self.physical_ids = self.deployment.physical_ids
            self.state_machines = self.deployment.state_machines
            api = Settings(
                state_table=STATE_TABLE,
                workflow_catalogs=self.app.workflow_sources(),
                state_machines=self.state_machines,
            )
            services = build_api(api.to_env(), self._recording_clients(API_FUNCTION))
            self.starter, self.store, self.desk = services.starter, services.store, services.desk
            self.api_workflows = services.workflows  # what the API serves, each loaded as it is on Lambda
            for workflow in self.catalog.workflows.values():
                if workflow.offline_fixture:
                    self.fixtures[workflow.name] = resolve(workflow.offline_fixture)(self)
            for name, double in self._chosen_models.items():  # the test's choice over a fixture's default
                self.use_model(name, double)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for cleanup in reversed(self._on_exit):  # what fixtures started (a peer's API bridge), before moto stops
            cleanup()
        self._on_exit.clear()
        moto_patches.uninstall()
        clock.reset()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, old in self._saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

    def _recording_clients(self, function: str) -> AwsClients:
        def observe(service: str, operation: str, _params: dict[str, Any]) -> None:
            with self._calls_lock:
                self.aws_calls.append(AwsCall(function, service, operation))

        def made(service: str, client: Any) -> None:
            if service == "bedrock-runtime":
                attach(client, _Registered(self, model_key(function)), function)

        on_call = self._on_call
        hooks = self._call_hooks

        def report(service: str, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
            detail = AwsCallDetail(function, service, operation, params, response)
            if on_call is not None:
                on_call(detail)
            for hook in list(hooks):
                hook(detail)

        return AwsClients(self._session, observer=observe, on_result=report, on_client=made)

    def add_call_hook(self, hook: CallHook) -> None:
        """Tell `hook` of every AWS call a function makes from now on, with its parameters and parsed response (an
        offline peer's API bridge learns which function assumed which role, baton.local.peer_bridge)."""
        self._call_hooks.append(hook)

    def on_exit(self, cleanup: Callable[[], None]) -> None:
        """Call `cleanup` when the engine exits, before moto stops (a fixture's server stops serving)."""
        self._on_exit.append(cleanup)

    # ------------------------------------------------------------ model doubles

    def use_model(self, name: str, double: ModelDouble | None) -> None:
        """Answer the Converse calls of agent `name` (or of "planner:<workflow>") with `double`; None: with none."""
        with self._models_lock:
            if double is None:
                self.models.pop(name, None)
            else:
                self.models[name] = double

    def model_for(self, name: str, caller: str) -> ModelDouble:
        with self._models_lock:
            double = self.models.get(name)
        if double is None:
            raise NoModelDouble(
                f"{caller} called Bedrock Converse offline, but no model double is registered for {name!r}: "
                f"register one with LocalEngine(models={{{name!r}: ...}}) or engine.use_model({name!r}, ...) "
                "(baton.local.model_doubles: ScriptedModel, RuleModel, ObedientModel)"
            )
        return double

    # ------------------------------------------------------------ running

    def start(
        self, workflow: str, run_input: Any, idempotency_key: str | None = None, caller: str = LOCAL_CALLER
    ) -> str:
        return self.starter.start(workflow, run_input, caller, idempotency_key).run_id

    def execution_arn(self, run_id: str) -> str:
        machine = self.state_machines[keys.workflow_of(run_id)]
        return machine.replace(":stateMachine:", ":execution:") + f":{run_id}"

    def wait(
        self,
        run_id: str,
        timeout_seconds: float = 120,
        on_step: Callable[[TaskOutcome], None] | None = None,
        on_approval: ApprovalCallback | None = None,
        on_poll: Callable[[], None] | None = None,
    ) -> RunRecord:
        """Poll until the run's execution ends; report each step as the orchestrator records it, and ask
        `on_approval` about each approval the run waits for (its answer is taken as the declared approver's);
        `on_poll` is called at each poll (the CLI serves its approval inbox there)."""
        seen: set[tuple[int, int]] = set()

        def report_steps() -> None:
            if on_approval is not None:
                self._ask(run_id, on_approval)
            if on_poll is not None:
                on_poll()
            if on_step is None:
                return
            for outcome in sorted(self.store.load_history(run_id), key=lambda o: (o.stage, o.index)):
                if (outcome.stage, outcome.index) not in seen:
                    seen.add((outcome.stage, outcome.index))
                    on_step(outcome)

        execution_arn = self.execution_arn(run_id)
        execution = self.wait_for_execution(execution_arn, timeout_seconds, report_steps)
        report_steps()
        record = read_run(self.store, run_id)
        if record.status is RunStatus.RUNNING:
            # what the execution-status rule does on AWS (moto's EventBridge cannot target Lambda)
            self.reconcile(execution_arn, str(execution["status"]))
            record = read_run(self.store, run_id)
        return record

    def wait_for_execution(
        self, execution_arn: str, timeout_seconds: float = 120, on_poll: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Poll an execution until it leaves RUNNING; its final description.

        Polls back off: the wait between two polls is 5% of the time waited so far, between 5 ms and 100 ms, so
        the end of a run is seen at most ~5% late (100 ms at most), and a long run is polled ten times a second,
        not fifty (each poll is a DescribeExecution through moto, competing with the run for the GIL).
        """
        sfn = self.clients.client("stepfunctions")
        started = time.monotonic()
        deadline = started + timeout_seconds
        while True:
            execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            if on_poll is not None:
                on_poll()
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"execution {execution_arn} still running after {timeout_seconds} s")
            time.sleep(min(_POLL_MAX_SECONDS, max(_POLL_MIN_SECONDS, (now - started) * _POLL_SHARE), deadline - now))

    def reconcile(self, execution_arn: str, status: str) -> None:
        """Deliver a "Step Functions Execution Status Change" event to the run's orchestrator function."""
        name = execution_arn.split(":")[7]
        machine = execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
        event = {
            "source": "aws.states",
            "detail-type": STATUS_CHANGE,
            "detail": {"executionArn": execution_arn, "stateMachineArn": machine, "name": name, "status": status},
        }
        self.clients.client("lambda").invoke(
            FunctionName=orchestrator_function_name(keys.workflow_of(name)), Payload=json.dumps(event).encode()
        )

    def run(self, workflow: str, run_input: Any, **wait_options: Any) -> RunRecord:
        return self.wait(self.start(workflow, run_input), **wait_options)

    # ------------------------------------------------------------ the event-driven pattern (baton.triggers)

    def drain_triggers(self, max_rounds: int = 100) -> list[str]:
        """What each subscribing workflow's SQS event source does on AWS: receive its queue's messages (moto's
        EventBridge delivered them there by the very rule patterns CDK deploys), invoke its starter function with
        them, delete those it started, leave the failed ones to be received again (after the queue's
        maxReceiveCount, moto's redrive moves them to the dead-letter queue). The run ids of the records started."""
        from baton.local.functions import starter_function_name

        sqs, lambdas = self.clients.client("sqs"), self.clients.client("lambda")
        started: list[str] = []
        for _ in range(max_rounds):
            received = 0
            for workflow, queue_url in self.deployment.trigger_queues.items():
                messages = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    continue
                received += len(messages)
                event = {"Records": [_sqs_record(message, queue_url) for message in messages]}
                response = lambdas.invoke(FunctionName=starter_function_name(workflow), Payload=json.dumps(event))
                answer = json.loads(response["Payload"].read() or b"{}")
                if response.get("FunctionError"):  # the whole batch failed: every record comes again
                    continue
                failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
                for message in messages:
                    if message["MessageId"] in failed:
                        continue
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    event_id = json.loads(message["Body"])["id"]
                    started.append(keys.derived_run_id(workflow, f"event:{event_id}"))
            if not received:
                break
        return started

    def dead_letters(self, workflow: str) -> list[dict[str, Any]]:
        """The events a subscribing workflow's queue dead-lettered (read without consuming: visibility 0)."""
        sqs = self.clients.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.deployment.dead_letter_queues[workflow], MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def wait_triggered(self, run_id: str, timeout_seconds: float = 120) -> list[RunRecord]:
        """The runs the events a run published started (drained from their queues), each waited for."""
        records = []
        for triggered in dict.fromkeys(self.drain_triggers()):
            start = self.store.load_start(triggered)
            if start is not None and start.trigger is not None and start.trigger.publishing_run_id == run_id:
                records.append(self.wait(triggered, timeout_seconds))
        return records

    # ------------------------------------------------------------ human approval

    def approver(self, workflow: str) -> str:
        """The principal offline decisions are taken as: the workflow's first declared approver role."""
        approvals = self.catalog.workflow(workflow).approvals
        if approvals is None:
            raise ValueError(f"workflow {workflow!r} declares no approvers")
        return approvals.approver_roles[0]

    def pending_approvals(self, run_id: str) -> list[Approval]:
        """The approvals the run waits for that nobody decided yet (as approvers see them: with the arguments)."""
        meta = self.store.find_meta(run_id)
        if meta is None:
            return []
        held = self.store.load_approvals(run_id, [a.approval_id for a in meta.approvals])
        return [a for a in held if a.state is ApprovalState.PENDING]

    def decide(
        self,
        run_id: str,
        decision: str = "approve",
        reason: str = "",
        *,
        approval_id: str | None = None,
        arguments_sha256: str | None = None,
        approver: str | None = None,
        source_identity: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST /runs/{run_id}/approvals through the API's own handler: (status code, body)."""
        from baton.api import handle_request

        if approval_id is None and arguments_sha256 is None:
            pending = self.pending_approvals(run_id)
            if not pending:
                return 409, {"error": f"run {run_id} waits for no approval"}
            approval_id = pending[0].approval_id
        body: dict[str, Any] = {"decision": decision, "reason": reason}
        body |= {"approval_id": approval_id} if approval_id is not None else {"arguments_sha256": arguments_sha256}
        identity: dict[str, Any] = {"userArn": approver or self.approver(keys.workflow_of(run_id))}
        if source_identity is not None:
            identity["sourceIdentity"] = source_identity
        event = {
            "httpMethod": "POST",
            "resource": "/runs/{run_id}/approvals",
            "pathParameters": {"run_id": run_id},
            "requestContext": {"requestId": "local", "identity": identity},
            "body": json.dumps(body),
        }
        response = handle_request(event, self.api_workflows, self.starter, self.store, self.desk)
        return int(response["statusCode"]), json.loads(response["body"])

    def advance_clock(self, seconds: float, run_id: str | None = None) -> None:
        """Move the clock forward (no sleeping); with `run_id`, end that run's wait if its approvals have all been
        decided or have expired by then (what the wait state's timeout does on AWS)."""
        clock.advance(seconds)
        if run_id is not None and self.desk is not None:
            self.desk.resume_if_settled(run_id)

    def _ask(self, run_id: str, on_approval: ApprovalCallback) -> None:
        meta = self.store.find_meta(run_id)
        if meta is None or not any(a.state is ApprovalState.PENDING for a in meta.approvals):
            return
        for approval in self.pending_approvals(run_id):
            if approval.approval_id in self._decided:
                continue
            self._decided.add(approval.approval_id)
            answer = on_approval(approval)
            if answer is not None:
                decision, reason = answer
                self.decide(run_id, decision, reason, approval_id=approval.approval_id)

    def secret_value(self, name: str) -> str:
        """For fixtures that stand in for the other side of a secret (a fake provider checking its API key)."""
        value = self.clients.client("secretsmanager").get_secret_value(SecretId=self.physical_ids[name])
        return str(value["SecretString"])

    def public_key(self, workflow: str) -> bytes:
        """The PEM public key of a workflow's audit signing key (what `baton audit verify` checks with)."""
        return public_key_pem(self.clients.client("kms"), self.deployment.audit_keys[workflow])


def _sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """An SQS message as Lambda's SQS event source hands it to a function."""
    region, account, name = REGION, ACCOUNT, queue_url.rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:{account}:{name}",
        "awsRegion": region,
    }


class _Registered:
    """The double registered for one name when a call is made (so a test may swap it between runs)."""

    def __init__(self, engine: LocalEngine, name: str) -> None:
        self._engine = engine
        self._name = name

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        return self._engine.model_for(self._name, caller).converse(caller, request)
