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
