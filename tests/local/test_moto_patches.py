"""The Lambda patch of baton/local/moto_patches.py: invocations run registered Python handlers, errors look like
Lambda's. (The DynamoDB patch: tests/soak/test_moto_dynamodb.py; the speed patches: test_moto_speed_patches.py.)

Pinned to moto 5.2.5; if an upgrade changes LambdaSimpleBackend.invoke, these fail first and in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest
from moto import mock_aws

from baton.local import moto_patches


class Boom(Exception):
    pass


class Timeout(Exception):
    lambda_error_type = "Sandbox.Timedout"


@pytest.fixture
def lambda_client() -> Iterator[Any]:
    with mock_aws(config={"lambda": {"use_docker": False}}):  # type: ignore[arg-type]
        moto_patches.install()
        client = boto3.client("lambda", region_name="us-east-1")
        role = boto3.client("iam", region_name="us-east-1").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        client.create_function(
            FunctionName="fn", Runtime="python3.13", Role=role["Role"]["Arn"], Handler="h.h", Code={"ZipFile": b"x"}
        )
        try:
            yield client
        finally:
            moto_patches.uninstall()


def invoke(client: Any, function: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_moto_is_the_pinned_version() -> None:
    assert moto.__version__ == "5.2.5"


def test_a_registered_handler_receives_the_event_and_returns_its_result(lambda_client: Any) -> None:
    moto_patches.register("fn", lambda event: {"doubled": event["n"] * 2})
    assert invoke(lambda_client, "fn", {"n": 21}) == ({"doubled": 42}, None)


def test_an_invocation_by_arn_finds_the_handler(lambda_client: Any) -> None:
    moto_patches.register("fn", lambda event: "ok")
    arn = lambda_client.get_function(FunctionName="fn")["Configuration"]["FunctionArn"]
    assert invoke(lambda_client, arn, {}) == ("ok", None)


@pytest.mark.parametrize(("error", "error_type"), [(Boom("bad"), "Boom"), (Timeout("slow"), "Sandbox.Timedout")])
def test_an_exception_becomes_an_unhandled_function_error(
    lambda_client: Any, error: Exception, error_type: str
) -> None:
    def fail(event: dict[str, Any]) -> None:
        raise error

    moto_patches.register("fn", fail)
    payload, function_error = invoke(lambda_client, "fn", {})
    assert function_error == "Unhandled"
    assert payload == {"errorType": error_type, "errorMessage": str(error)}


def test_a_function_without_a_handler_is_an_error_not_an_echo(lambda_client: Any) -> None:
    payload, function_error = invoke(lambda_client, "fn", {"n": 1})
    assert function_error == "Unhandled"
    assert payload["errorType"] == "NoHandler"


# ---------------------------------------------------------------- Step Functions: startExecution.sync:2

_CHILD_PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}
_CHILD_FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "ChildFailed", "Cause": "on purpose"}}}
_PARENT = {
    "StartAt": "StartChild",
    "States": {
        "StartChild": {
            "Type": "Task",
            "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {
                "StateMachineArn.$": "$.arn",
                "Name.$": "$.name",
                "Input": {"n": 1, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"},
            },
            "End": True,
        }
    },
}


def _run_parent(child_definition: dict[str, Any], name: str) -> tuple[dict[str, Any], Any]:
    import time

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/sfn"
    child = sfn.create_state_machine(name=f"child-{name}", roleArn=role, definition=json.dumps(child_definition))
    parent = sfn.create_state_machine(name=f"parent-{name}", roleArn=role, definition=json.dumps(_PARENT))
    execution = sfn.start_execution(
        stateMachineArn=parent["stateMachineArn"],
        name=name,
        input=json.dumps({"arn": child["stateMachineArn"], "name": f"{name}-child"}),
    )["executionArn"]
    for _ in range(400):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described, sfn
        time.sleep(0.02)
    raise AssertionError("the parent execution did not end")


@pytest.fixture
def executing_stepfunctions() -> Iterator[None]:
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        import logging

        logging.getLogger("moto").setLevel(logging.CRITICAL)
        yield


def test_start_execution_sync2_fails_in_moto_as_shipped(executing_stepfunctions: None) -> None:
    described, _ = _run_parent(_CHILD_PASS, "unpatched")
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert "'StateMachineArn'" in described["cause"]


def test_start_execution_sync2_runs_the_child_and_returns_its_output_as_json(executing_stepfunctions: None) -> None:
    moto_patches.install()
    try:
        described, sfn = _run_parent(_CHILD_PASS, "patched")
    finally:
        moto_patches.uninstall()
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["Status"] == "SUCCEEDED"
    assert output["Output"] == {"ok": 1}  # .sync:2: JSON, not text
    assert output["Name"] == "patched-child"
    assert output["Input"]["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] == described["executionArn"]
    assert isinstance(output["StartDate"], int)
    child = sfn.describe_execution(executionArn=output["ExecutionArn"])
    assert child["status"] == "SUCCEEDED"


def test_a_failing_child_fails_the_parent_task_with_states_task_failed(executing_stepfunctions: None) -> None:
    moto_patches.install()
    try:
        described, _ = _run_parent(_CHILD_FAIL, "failing")
    finally:
        moto_patches.uninstall()
    assert (described["status"], described["error"]) == ("FAILED", "States.TaskFailed")
    cause = json.loads(described["cause"])
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("FAILED", "ChildFailed", "on purpose")
