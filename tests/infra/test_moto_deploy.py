"""The test app's synthesized template, deployed into moto's CloudFormation (baton.testing.cloudformation, whose
docstring lists the moto gaps it bridges), its workflows run through the deployed api function, and every AWS
call judged by the caller's role *as deployed*, with the test evaluator (tests/infra/iam_eval.py).

What this proves that the offline engine cannot: the wiring CDK produced really connects the functions, and
AWS would have allowed every call each deployed principal made (functions and state machines: action,
resource ARN, dynamodb:LeadingKeys, and for kms:Sign the key policy too). Then the security review's item 6:
each denial the design promises, proved on the deployed roles and paired with the same request allowed to the
principal whose job it is (so a denial is never an artefact of a malformed request); and a rogue agent whose
own boto3 calls are judged, and refused, by its deployed role alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from baton import keys
from baton.catalog import ResourceKind, WorkflowSpec
from baton.iam import LEADING_KEYS, pascal
from baton.keys import AUDIT_ARCHIVE_PREFIX
from baton.local import moto_patches
from baton.testing.cloudformation import ACCOUNT, REGION, Call, Deployment, Synthesized, deploy
from tests.infra import rogue_agent
from tests.infra.iam_eval import Decision, Request, evaluate, kms_authorizes

# every workflow of the test app takes this input: an item that exists, and one that does not (a failed task,
# and for most workflows a failed run, whose Standard execution's status change goes through the reconcile rule)
FOUND, MISSING = {"item_id": "IT-1"}, {"item_id": "IT-9"}
OTHER_CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/someone-else/session"


@pytest.fixture(scope="module")
def deployment(synthesized: Synthesized) -> Iterator[Deployment]:
    with deploy(synthesized) as deployed:
        yield deployed


@dataclass(frozen=True)
class Runs:
    found: dict[str, dict[str, Any]]  # workflow -> the run of an item that exists
    missing: dict[str, dict[str, Any]]  # workflow -> the run of an item that does not
    repeated: tuple[str, str]  # the run ids of two requests with one Idempotency-Key


@pytest.fixture(scope="module")
def runs(deployment: Deployment) -> Runs:
    """Every workflow of the test app, run twice through the deployed API; and one idempotent repeat."""
    found = {name: deployment.run(name, FOUND) for name in deployment.catalog.workflows}
    missing = {name: deployment.run(name, MISSING) for name in deployment.catalog.workflows}
    first = next(iter(deployment.catalog.workflows))
    repeated = (
        deployment.start(first, FOUND, idempotency_key="same-request"),
        deployment.start(first, FOUND, idempotency_key="same-request"),
    )
    deployment.wait(repeated[0])
    return Runs(found, missing, repeated)


# ---------------------------------------------------------------- calls, as IAM authorizes them


class Judge:
    """Translates recorded calls into IAM requests and judges them against the deployed policies."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.clients = deployment.clients

    @cache  # noqa: B019 - one judge per module, as long-lived as its deployment
    def policy(self, principal: str) -> dict[str, Any]:
        return self.deployment.role_policy(principal)

    @cache  # noqa: B019
    def role_arn(self, principal: str) -> str:
        return self.deployment.role_arn(principal)

    @cache  # noqa: B019
    def key_policy(self, key_arn: str) -> dict[str, Any]:
        policy: dict[str, Any] = json.loads(
            self.clients.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        )
        return policy

    @cache  # noqa: B019
    def hash_key(self, table: str) -> str:
        schema = self.clients.client("dynamodb").describe_table(TableName=table)["Table"]["KeySchema"]
        return str(next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH"))

    def allowed(self, principal: str, request: Request) -> bool:
        """As AWS would decide for the principal's role: the identity policy, and for KMS the key policy too."""
        role = self.role_arn(principal)
        context = {LEADING_KEYS: None, "aws:PrincipalArn": role, **request.context}
        request = Request(request.action, request.resource, context)
        if request.action.lower().startswith("kms:"):
            with_principal = Request(request.action, request.resource, context, principal=role)
            return kms_authorizes(self.key_policy(request.resource), self.policy(principal), with_principal)
        return evaluate(self.policy(principal), request) is Decision.ALLOW

    # ------------------------------------------------------------ translating a call

    def requests(self, call: Call) -> list[Request]:
        service = "dynamodb" if call.service == "streams.dynamodb" else call.service
        params = call.params
        if service == "dynamodb":
            return self._dynamodb(call.operation, params)
        action = f"{service}:{call.operation}"
        if call.service == "lambda" and call.operation == "Invoke":
            return [Request("lambda:InvokeFunction", self._function_arn(params["FunctionName"]))]
        if action == "kms:Sign":
            key = self.clients.client("kms").describe_key(KeyId=params["KeyId"])["KeyMetadata"]["Arn"]
            return [Request(action, key)]
        if action == "secretsmanager:GetSecretValue":
            secret = self.clients.client("secretsmanager").describe_secret(SecretId=params["SecretId"])["ARN"]
            return [Request(action, secret)]
        if action == "sqs:SendMessage":
            return [Request(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{params['QueueUrl'].rsplit('/', 1)[-1]}")]
        if action == "sns:Publish":
            return [Request(action, params["TopicArn"])]
        if action in ("ssm:GetParameter", "ssm:GetParameters"):
            names = params.get("Names") or [params["Name"]]
            return [Request(action, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{n.lstrip('/')}") for n in names]
        if action == "states:StartExecution":
            return [Request(action, params["stateMachineArn"])]
        if action == "s3:PutObject":
            return [Request(action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]
        raise NotImplementedError(f"no IAM translation for {call.service}:{call.operation}: extend the test")

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> list[Request]:
        if operation in ("DescribeStream", "GetShardIterator"):
            return [Request(f"dynamodb:{operation}", params["StreamArn"])]
        if operation == "GetRecords":
            # moto's shard iterators begin with their stream's ARN (on AWS they are opaque)
            return [Request("dynamodb:GetRecords", params["ShardIterator"].split("|", 1)[0])]
        if operation == "ListStreams":
            return [Request("dynamodb:ListStreams", "*")]
        if operation == "TransactWriteItems":
            kinds = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
            }
            # IAM authorizes each item of a transaction as its own single-item action
            return [
                self.item_request(f"dynamodb:{kinds[kind]}", body["TableName"], [self._key_of(body["TableName"], body)])
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation == "BatchWriteItem":
            return [
                self.item_request(
                    "dynamodb:BatchWriteItem",
                    table,
                    [self._key_of(table, r.get("PutRequest") or r["DeleteRequest"]) for r in writes],
                )
                for table, writes in params["RequestItems"].items()
            ]
        if operation in ("GetItem", "PutItem", "DeleteItem", "UpdateItem"):
            return [
                self.item_request(
                    f"dynamodb:{operation}", params["TableName"], [self._key_of(params["TableName"], params)]
                )
            ]
        if operation == "Query":
            return [self.item_request("dynamodb:Query", params["TableName"], [self._queried_key(params)])]
        raise NotImplementedError(f"no IAM translation for dynamodb:{operation}: extend the test")

    def item_request(self, action: str, table: str, leading: list[str]) -> Request:
        arn = table if table.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
        return Request(action, arn, {LEADING_KEYS: leading})

    def _key_of(self, table: str, body: dict[str, Any]) -> str:
        item = body.get("Key") or body["Item"]
        (value,) = item[self.hash_key(table)].values()
        return str(value)

    def _queried_key(self, params: dict[str, Any]) -> str:
        names = params.get("ExpressionAttributeNames", {})
        wanted = self.hash_key(params["TableName"])
        for name, placeholder in re.findall(r"(#?\w+)\s*=\s*(:\w+)", params["KeyConditionExpression"]):
            if names.get(name, name) == wanted:
                (value,) = params["ExpressionAttributeValues"][placeholder].values()
                return str(value)
        raise NotImplementedError(f"no partition key in {params['KeyConditionExpression']!r}")

    def _function_arn(self, name: str) -> str:
        if name.startswith("arn:"):
            return name
        return str(self.clients.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


@pytest.fixture(scope="module")
def judge(deployment: Deployment) -> Judge:
    return Judge(deployment)


def denied_calls(judge: Judge, calls: list[Call]) -> list[tuple[str, str, str, Any]]:
    denied = []
    for call in calls:
        for request in judge.requests(call):
            if not judge.allowed(call.caller, request):
                denied.append((call.caller, request.action, request.resource, request.context.get(LEADING_KEYS)))
    return denied


# ---------------------------------------------------------------- the deployed wiring runs the test app


def test_every_workflow_of_the_test_app_runs_through_the_deployed_wiring(deployment: Deployment, runs: Runs) -> None:
    # Given the stack as CloudFormation created it, each workflow posted to the deployed api function
    for name, workflow in deployment.catalog.workflows.items():
        run = runs.found[name]
        # Then each run of an existing item succeeds, every step on one of the workflow's agents
        assert run["status"] == "SUCCEEDED", (name, run["reason"])
        assert run["workflow"] == name
        assert {s["agent"] for s in run["steps"]} <= set(workflow.agents)
        assert all(s["status"] == "succeeded" for s in run["steps"]), name
        assert run["audit_head"]
        # and each run ends, whatever its item
        assert runs.missing[name]["status"] in ("SUCCEEDED", "FAILED"), name
    # each Standard execution that failed reached its workflow's orchestrator through its rule, which left the run
    # the orchestrator had already closed as it was (Express executions send no status change events)
    sfn = deployment.clients.client("stepfunctions")
    delivered = {d.event["detail"]["executionArn"]: d.target for d in deployment.deliveries}
    failed = []
    for name, run in runs.missing.items():
        execution = sfn.describe_execution(executionArn=deployment.execution_arn(run["run_id"]))
        standard = deployment.catalog.workflow(name).execution == "standard"
        if execution["status"] == "FAILED" and standard:
            orchestrator = deployment.functions[deployment.function(workflow=name)]["FunctionArn"]
            assert delivered[execution["executionArn"]] == orchestrator, name
            assert "execution" not in str(run["reason"]), run["reason"]
            failed.append(name)
        else:
            assert execution["executionArn"] not in delivered, name
    assert failed
    # an Idempotency-Key repeated by the same caller answers with the same run
    assert runs.repeated[0] == runs.repeated[1]


def test_a_run_is_visible_to_its_caller_only(deployment: Deployment, runs: Runs) -> None:
    run_id = next(iter(runs.found.values()))["run_id"]
    status, _ = deployment.api("GET", "/runs/{run_id}", caller=OTHER_CALLER, path={"run_id": run_id})
    assert status == 404
    status, _ = deployment.api("GET", "/runs/{run_id}", caller=None, path={"run_id": run_id})
    assert status == 403  # no SigV4 identity in the request context


@pytest.mark.attack("ASI03")
def test_every_call_each_deployed_function_made_is_allowed_by_its_role(
    deployment: Deployment, runs: Runs, judge: Judge
) -> None:
    # Given every AWS call the deployed functions made while the test app's workflows ran
    calls = list(deployment.calls)
    # Then AWS would have allowed every one of them, under the caller's role as deployed
    assert denied_calls(judge, calls) == []
    # and every deployed function ran (the archiver too, from the state table's stream)
    assert set(deployment.invocations) == set(deployment.functions)
    # and each function whose role allows more than logs and traces made calls that the judge understood
    callers = {c.caller for c in calls}
    for function in deployment.functions:
        resourceful = [s for s in judge.policy(function)["Statement"] if s["Sid"] not in ("WriteOwnLogs", "Tracing")]
        assert bool(resourceful) == (function in callers), function


def test_every_call_each_state_machine_made_is_allowed_by_its_role(
    deployment: Deployment, runs: Runs, judge: Judge
) -> None:
    # Given the service calls of every execution (Lambda invocations, task reads, journal writes)
    calls: list[Call] = []
    for run in [*runs.found.values(), *runs.missing.values()]:
        calls += deployment.state_machine_calls(deployment.execution_arn(run["run_id"]))
    assert {(c.service, c.operation) for c in calls} == {
        ("lambda", "Invoke"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "PutItem"),
    }
    # Then the state machine's role as deployed allows each of them
    assert denied_calls(judge, calls) == []


@pytest.mark.attack("ASI10")
def test_the_archive_holds_every_audit_record_immutable_and_audit_records_never_expire(
    deployment: Deployment, runs: Runs, synthesized: Synthesized
) -> None:
    # Given every item the runs left in the state table
    ddb, s3 = deployment.clients.client("dynamodb"), deployment.clients.client("s3")
    table = deployment.functions[deployment.function(kind="api")]["Environment"]["Variables"]["BATON_STATE_TABLE"]
    items = [i for page in ddb.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]
    audit = [i for i in items if i["sk"]["S"].startswith(keys.AUDIT_PREFIX)]
    assert audit
    # Then audit records carry no TTL attribute, and every other item does
    assert [i["pk"]["S"] + i["sk"]["S"] for i in audit if "expires_at" in i] == []
    assert [i["pk"]["S"] + i["sk"]["S"] for i in items if i not in audit and "expires_at" not in i] == []
    assert {i["pk"]["S"].split("#")[0] for i in items} >= {"RUN", "TASK", "JOURNAL", "START", "IDEMPOTENCY"}
    # and each is in the archive, with the signature its commit carried, under the default COMPLIANCE retention
    bucket = deployment.outputs["AuditArchiveBucket"]
    (configuration,) = [
        r for r in synthesized.resources("AWS::S3::Bucket").values() if r["Properties"].get("ObjectLockEnabled")
    ]
    days = int(configuration["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"])
    archived: dict[tuple[str, int], dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page["Contents"]:
            assert entry["Key"].startswith(AUDIT_ARCHIVE_PREFIX)
            head = s3.head_object(Bucket=bucket, Key=entry["Key"])
            assert head["ObjectLockMode"] == "COMPLIANCE", entry["Key"]
            assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=days - 1)
            for record in json.loads(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()):
                archived[(record["run_id"], record["seq"])] = record
    expected = {}
    for item in audit:
        record = json.loads(item["record_json"]["S"])
        if "signature" in item:
            record["signature"] = item["signature"]["S"]
        expected[(record["run_id"], record["seq"])] = record
    assert archived == expected
    # and a locked version cannot be deleted
    version = s3.list_object_versions(Bucket=bucket, MaxKeys=1)["Versions"][0]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


@pytest.mark.attack("ASI08")
def test_a_run_whose_execution_ends_outside_the_orchestrator_is_closed_by_its_rule(deployment: Deployment) -> None:
    # Given a Standard workflow whose orchestrator becomes unavailable after the run began: every Plan
    # (and CloseFailedRun) raises, so the execution fails with the run still RUNNING
    workflow = next(w for w in deployment.catalog.workflows.values() if w.execution == "standard")
    orchestrator = deployment.function(workflow=workflow.name)

    def unavailable(handler: moto_patches.Handler) -> moto_patches.Handler:
        def handle(event: dict[str, Any]) -> Any:
            if "run_id" in event and (event.get("stage", 0) > 0 or "failure" in event):
                raise RuntimeError("orchestrator unavailable")
            return handler(event)  # the first Plan, and the rule's execution status events

        return handle

    with deployment.swapped(orchestrator, wrap=unavailable):
        before = len(deployment.deliveries)
        run = deployment.run(workflow.name, FOUND)
    # When the execution failed, the workflow's rule delivered its status change to the orchestrator
    execution = deployment.clients.client("stepfunctions").describe_execution(
        executionArn=deployment.execution_arn(run["run_id"])
    )
    assert execution["status"] == "FAILED"
    (delivery,) = deployment.deliveries[before:]
    assert delivery.target == deployment.functions[orchestrator]["FunctionArn"]
    assert delivery.event["detail"]["executionArn"] == execution["executionArn"]
    # Then the orchestrator closed the run: no run is left RUNNING
    assert run["status"] == "FAILED"
    assert "FAILED" in run["reason"]


# ---------------------------------------------------------------- item 6: each denial, with its positive control


def new_run(workflow: str) -> dict[str, str]:
    run = keys.new_run_id(workflow)
    return {
        "RUN": keys.run_pk(run),
        "TASK": keys.task_pk(run),
        "JOURNAL": keys.journal_pk(run),
        "START": keys.start_pk(run),
        "IDEMPOTENCY": keys.idempotency_pk(workflow, OTHER_CALLER, "k-1"),
    }


def state_table(judge: Judge, deployment: Deployment) -> str:
    name = deployment.functions[deployment.function(kind="api")]["Environment"]["Variables"]["BATON_STATE_TABLE"]
    return judge.item_request("dynamodb:GetItem", name, []).resource


def on(judge: Judge, deployment: Deployment, action: str, pk: str) -> Request:
    return Request(f"dynamodb:{action}", state_table(judge, deployment), {LEADING_KEYS: [pk]})


def owner(deployment: Deployment, workflow: str, action: str, kind: str) -> str:
    """The principal whose job the request is: the positive control of a denial."""
    if kind in ("START", "IDEMPOTENCY") and action == "PutItem":
        return deployment.function(kind="api")
    if kind == "JOURNAL" and action == "PutItem":
        return deployment.state_machines[workflow]
    return deployment.function(workflow=workflow)


def assert_denied(
    judge: Judge, deployment: Deployment, principal: str, workflow: str, action: str, kind: str, pk: str
) -> None:
    request = on(judge, deployment, action, pk)
    assert not judge.allowed(principal, request), (principal, action, pk)
    control = owner(deployment, workflow, action, kind)
    assert judge.allowed(control, request), ("control", control, action, pk)


@pytest.mark.attack("ASI03")
def test_the_api_role_creates_start_requests_and_reads_runs_of_its_workflows_only(
    deployment: Deployment, judge: Judge
) -> None:
    api = deployment.function(kind="api")
    served = list(deployment.catalog.workflows)
    for workflow in served:
        mine = new_run(workflow)
        # the api may create its workflows' start requests and idempotency items, and read their runs
        assert judge.allowed(api, on(judge, deployment, "PutItem", mine["START"]))
        assert judge.allowed(api, on(judge, deployment, "PutItem", mine["IDEMPOTENCY"]))
        assert judge.allowed(api, on(judge, deployment, "Query", mine["RUN"]))
        assert judge.allowed(api, on(judge, deployment, "GetItem", mine["RUN"]))
        # but never write a run's record nor its tasks (the orchestrator may), nor its journal
        for kind in ("RUN", "TASK", "JOURNAL"):
            assert_denied(judge, deployment, api, workflow, "PutItem", kind, mine[kind])
        # and neither start nor read runs of a workflow it does not serve, however close its name
        for stranger in (f"{workflow}x", "elsewhere"):
            assert stranger not in served
            theirs = new_run(stranger)
            for action, kind in (
                ("PutItem", "START"),
                ("PutItem", "IDEMPOTENCY"),
                ("Query", "RUN"),
                ("GetItem", "RUN"),
            ):
                assert not judge.allowed(api, on(judge, deployment, action, theirs[kind])), (stranger, action, kind)
                assert judge.allowed(api, on(judge, deployment, action, mine[kind]))  # the same shape, its own


@pytest.mark.attack("ASI03")
def test_an_orchestrator_reaches_only_its_own_workflows_items_and_signing_key(
    deployment: Deployment, judge: Judge
) -> None:
    names = list(deployment.catalog.workflows)
    keys_by_workflow = {name: deployment.outputs[f"AuditKey{pascal(name)}"] for name in names}
    for own in names:
        orchestrator = deployment.function(workflow=own)
        mine = new_run(own)
        # its own: read runs, starts, tasks and journal; write runs and tasks; sign with its key
        for kind in ("RUN", "START", "TASK", "JOURNAL"):
            assert judge.allowed(orchestrator, on(judge, deployment, "GetItem", mine[kind])), (own, kind)
            assert judge.allowed(orchestrator, on(judge, deployment, "Query", mine[kind])), (own, kind)
        for kind in ("RUN", "TASK"):
            assert judge.allowed(orchestrator, on(judge, deployment, "PutItem", mine[kind])), (own, kind)
        assert judge.allowed(orchestrator, Request("kms:Sign", keys_by_workflow[own]))
        # it never records the journal: the state machine does
        assert_denied(judge, deployment, orchestrator, own, "PutItem", "JOURNAL", mine["JOURNAL"])
        for other in (n for n in names if n != own):
            theirs = new_run(other)
            # nothing of another workflow's runs, tasks or journal (each request is the other's own job)
            for kind in ("RUN", "TASK", "JOURNAL"):
                for action in ("GetItem", "Query", "PutItem"):
                    assert_denied(judge, deployment, orchestrator, other, action, kind, theirs[kind])
            # nor its signing key, which the other's orchestrator may use
            assert not judge.allowed(orchestrator, Request("kms:Sign", keys_by_workflow[other])), (own, other)
            assert judge.allowed(deployment.function(workflow=other), Request("kms:Sign", keys_by_workflow[other]))


def test_only_the_orchestrator_role_of_a_workflow_can_sign_with_its_key(deployment: Deployment, judge: Judge) -> None:
    # Given every deployed role (functions and state machines) and each workflow's key policy as deployed
    principals = [*deployment.functions, *deployment.state_machines.values()]
    for workflow in deployment.catalog.workflows:
        key = deployment.outputs[f"AuditKey{pascal(workflow)}"]
        signers = {p for p in principals if judge.allowed(p, Request("kms:Sign", key))}
        # Then exactly one may sign: the workflow's orchestrator
        assert signers == {deployment.function(workflow=workflow)}
        # and an administrator whose identity policy allows every kms action still may not: the key policy
        # allows kms:Sign to the orchestrator role's ARN alone
        admin = f"arn:aws:iam::{ACCOUNT}:role/administrator"
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
        request = Request("kms:Sign", key, {"aws:PrincipalArn": admin}, principal=admin)
        assert not kms_authorizes(judge.key_policy(key), everything, request)
        orchestrator_role = judge.role_arn(deployment.function(workflow=workflow))
        request = Request("kms:Sign", key, {"aws:PrincipalArn": orchestrator_role}, principal=orchestrator_role)
        assert kms_authorizes(judge.key_policy(key), everything, request)  # the same request, from its role


def workflows_of(deployment: Deployment, agent: str) -> list[WorkflowSpec]:
    return [w for w in deployment.catalog.workflows.values() if agent in w.agents]


def resource_arn(deployment: Deployment, judge: Judge, name: str) -> str:
    spec = deployment.catalog.resources[name]
    physical = deployment.physical_ids[name]
    if spec.kind is ResourceKind.TABLE:
        return judge.item_request("dynamodb:GetItem", physical, []).resource
    if spec.kind is ResourceKind.QUEUE:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical.rsplit('/', 1)[-1]}"
    if spec.kind is ResourceKind.PARAMETER:
        return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{physical.lstrip('/')}"
    return physical  # secrets and topics: their ARN


def test_an_agent_role_has_no_access_to_the_state_table_only_its_tools_grants(
    deployment: Deployment, judge: Judge
) -> None:
    catalog = deployment.catalog
    for agent in catalog.agents.values():
        function = deployment.function(agent=agent.name)
        # Given a run of each workflow the agent serves: none of the state table is the agent's
        for workflow in workflows_of(deployment, agent.name):
            run = new_run(workflow.name)
            for action, kind in (
                ("GetItem", "TASK"),
                ("PutItem", "JOURNAL"),
                ("PutItem", "RUN"),
                ("Query", "RUN"),
                ("GetItem", "RUN"),
            ):
                assert_denied(judge, deployment, function, workflow.name, action, kind, run[kind])
        # while each grant its tools declare is allowed on the deployed resource
        granted = {
            (a, g.resource.name, g.resource.suffix)
            for t in catalog.tools_of(agent)
            for g in t.all_grants()
            for a in g.actions
        }
        for action, name, suffix in granted:
            request = Request(action, resource_arn(deployment, judge, name) + suffix, {LEADING_KEYS: ["IT-1"]})
            assert judge.allowed(function, request), (agent.name, action, name)
        # and what other agents' tools are granted on resources it does not use is not
        mine = {r.name for r in catalog.resources_of(agent)}
        for other in catalog.agents.values():
            for tool in catalog.tools_of(other):
                for grant in tool.all_grants():
                    if grant.resource.name in mine:
                        continue
                    for action in grant.actions:
                        request = Request(
                            action, resource_arn(deployment, judge, grant.resource.name), {LEADING_KEYS: ["IT-1"]}
                        )
                        assert not judge.allowed(function, request), (agent.name, action, grant.resource.name)
                        assert judge.allowed(deployment.function(agent=other.name), request)  # its owner may


@pytest.mark.attack("ASI07")
def test_a_state_machine_role_reads_tasks_and_records_the_journal_of_its_own_workflow_only(
    deployment: Deployment, judge: Judge
) -> None:
    names = list(deployment.catalog.workflows)
    for own in names:
        machine = deployment.state_machines[own]
        mine = new_run(own)
        assert judge.allowed(machine, on(judge, deployment, "PutItem", mine["JOURNAL"]))
        assert judge.allowed(machine, on(judge, deployment, "GetItem", mine["TASK"]))
        # never the run's own record, nor its tasks' writes (the orchestrator's)
        for action, kind in (("PutItem", "RUN"), ("GetItem", "RUN"), ("Query", "RUN"), ("PutItem", "TASK")):
            assert_denied(judge, deployment, machine, own, action, kind, mine[kind])
        for other in (n for n in names if n != own):
            theirs = new_run(other)
            for action, kind in (("PutItem", "JOURNAL"), ("GetItem", "TASK"), ("PutItem", "RUN")):
                assert_denied(judge, deployment, machine, other, action, kind, theirs[kind])
            # it invokes its own workflow's orchestrator, not another's
            orchestrator = deployment.functions[deployment.function(workflow=other)]["FunctionArn"]
            assert not judge.allowed(machine, Request("lambda:InvokeFunction", orchestrator))
            assert judge.allowed(deployment.state_machines[other], Request("lambda:InvokeFunction", orchestrator))
        own_orchestrator = deployment.functions[deployment.function(workflow=own)]["FunctionArn"]
        assert judge.allowed(machine, Request("lambda:InvokeFunction", own_orchestrator))


# ---------------------------------------------------------------- a rogue agent, stopped by its role alone


@dataclass
class Judged:
    call: Call
    requests: list[Request]
    allowed: bool


class DefaultSessionGuard:
    """boto3's default session, as code in a deployed function reaches it with `boto3.client(...)`: each call
    made while a deployed function's handler runs is recorded and judged against that function's deployed role,
    and a denied call is answered AccessDeniedException, as AWS answers it, without reaching moto. Calls outside
    any handler (moto's Step Functions interpreter uses the default session too) pass untouched."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.judged: list[Judged] = []

    def __enter__(self) -> DefaultSessionGuard:
        self._previous = boto3.DEFAULT_SESSION
        boto3.setup_default_session(region_name=REGION)
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", self._remember)
        boto3.DEFAULT_SESSION.events.register("before-call", self._decide)
        return self

    def __exit__(self, *_: object) -> None:
        boto3.DEFAULT_SESSION = self._previous

    @staticmethod
    def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["guarded_params"] = json.loads(json.dumps(params, default=repr))

    def _decide(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        function = Deployment.current_function()
        if function is None:
            return None
        call = Call(function, model.service_model.endpoint_prefix, model.name, context["guarded_params"])
        requests = self.judge.requests(call)
        allowed = all(self.judge.allowed(function, r) for r in requests)
        self.judged.append(Judged(call, requests, allowed))
        if allowed:
            return None
        error = {"Code": "AccessDeniedException", "Message": f"{function} is not authorized to perform {model.name}"}
        return _Refused(), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}


class _Refused:
    status_code = 400
    headers: dict[str, str] = {}  # noqa: RUF012
    content = b""


@pytest.mark.attack("ASI03")
def test_a_rogue_agent_is_stopped_by_its_role_alone(
    deployment: Deployment, runs: Runs, judge: Judge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run it targets (another run, finished), and the agent's deployed function, same name and role,
    # running the rogue's code (its catalog swapped for tests/infra/rogue_agent.py's), in a workflow using it
    agent = rogue_agent.COMPROMISED_AGENT
    workflow = next(w.name for w in workflows_of(deployment, agent))
    victim = runs.found[workflow]["run_id"]
    function = deployment.function(agent=agent)
    table = deployment.functions[function]["Environment"]["Variables"]["BATON_STATE_TABLE"]
    monkeypatch.setenv(rogue_agent.STATE_TABLE_ENV, table)  # the function's environment, as Lambda gives it
    monkeypatch.setenv(rogue_agent.VICTIM_ENV, victim)
    status, before = deployment.api("GET", "/runs/{run_id}", path={"run_id": victim})
    assert status == 200
    rogue_agent.ATTEMPTS.clear()
    first_call = len(deployment.calls)
    # When a run makes the rogue do its task, with its own boto3 client judged by its deployed role
    with (
        DefaultSessionGuard(judge) as guard,
        deployment.swapped(function, environment={"BATON_CATALOG": "tests.infra.rogue_agent:CATALOG"}),
    ):
        run = deployment.run(workflow, FOUND)
    # Then every call the rogue made on its own was denied by the agent's role, as AWS would answer
    assert rogue_agent.ATTEMPTS == [
        ("read another run's task", "AccessDeniedException"),
        ("forge a journal entry", "AccessDeniedException"),
        ("overwrite a run record", "AccessDeniedException"),
        ("read a run's state", "AccessDeniedException"),
    ]
    assert [(j.call.caller, j.call.operation, j.allowed) for j in guard.judged] == [
        (function, "GetItem", False),
        (function, "PutItem", False),
        (function, "PutItem", False),
        (function, "Query", False),
    ]
    # and each was a well-formed request: the principal whose job it is would have been allowed it
    for judged in guard.judged:
        (request,) = judged.requests
        leading = request.context[LEADING_KEYS]
        assert isinstance(leading, list)
        action, kind = request.action.split(":")[1], leading[0].split("#")[0]
        assert judge.allowed(owner(deployment, workflow, action, kind), request), judged
    # while its legitimate work through its toolbox was allowed, and the run went on
    legitimate = [c for c in deployment.calls[first_call:] if c.caller == function]
    assert legitimate
    assert denied_calls(judge, legitimate) == []
    assert run["status"] == "SUCCEEDED"
    # and the run it targeted is as it was
    status, after = deployment.api("GET", "/runs/{run_id}", path={"run_id": victim})
    assert (status, after) == (200, before)
