"""Baton's DynamoDB attribute values are boto3's for every value an item holds, refuse every other type, and keep
boto3 (and s3transfer) out of a deployed function's cold start."""

from __future__ import annotations

import decimal
import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from baton.attribute_values import UnsupportedAttribute, from_attribute, from_item, to_attribute, to_item
from tests.unit.fresh_process import modules_after

AGENTS = ("case_escalator", "customer_notifier", "order_lookup", "payment_reversal", "return_policy")

STORED = [
    "",
    "run#refund_20261126T051605-af3ff1cf400a",
    '{"order_id": "ORD-1001", "note": "ünïcødé \\u2028 ✓"}',
    "x" * 10_000,
    0,
    1,
    -1,
    2**63,
    -(2**63) - 1,
    1_798_765_432,  # epoch seconds, a TTL
    10**37,
    int("9" * 38),  # DynamoDB's 38 significant digits
    -int("9" * 38),
    True,
    False,
]


@pytest.mark.parametrize("value", STORED, ids=repr)
def test_a_stored_value_becomes_the_attribute_value_boto3_makes_and_comes_back_as_boto3_reads_it(value: Any) -> None:
    # Given a value of a type a Baton item holds
    # When it is written and read back
    attribute = to_attribute(value)
    back = from_attribute(attribute)
    # Then the attribute value is boto3's, and what comes back is boto3's (value and type: a number is a Decimal)
    assert attribute == TypeSerializer().serialize(value)
    expected = TypeDeserializer().deserialize(attribute)
    assert (back, type(back)) == (expected, type(expected))
    assert back == value


@pytest.mark.parametrize("value", [10**38 + 1, -(10**38) - 1, 10**120], ids=["39 digits", "-39 digits", "1e120"])
def test_a_number_dynamodb_cannot_hold_exactly_is_refused_as_boto3_refuses_it(value: int) -> None:
    # Given a whole number DynamoDB would round or could not hold
    # When it is written / Then the same decimal signal as boto3's stops it: nothing rounded is ever stored
    with pytest.raises(decimal.DecimalException) as ours:
        to_attribute(value)
    with pytest.raises(decimal.DecimalException) as boto3s:
        TypeSerializer().serialize(value)
    assert type(ours.value) is type(boto3s.value)


@pytest.mark.parametrize("value", [1.5, None, Decimal("1.5"), b"bytes", {"a": 1}, ["a"], {"a"}], ids=repr)
def test_a_value_of_a_type_no_baton_item_holds_is_refused_naming_its_type(value: Any) -> None:
    # Given a float, None, a Decimal, bytes, a map, a list or a set (no Baton item attribute is one)
    # When it is written / Then it is refused, naming its type, rather than stored in a shape nothing reads back
    with pytest.raises(UnsupportedAttribute, match=type(value).__name__):
        to_attribute(value)


@pytest.mark.parametrize(
    "attribute",
    [
        {"M": {"a": {"S": "b"}}},
        {"L": [{"S": "a"}]},
        {"NULL": True},
        {"B": b"x"},
        {"SS": ["a"]},
        {"S": 1},
        {"N": 1},
        {"BOOL": "true"},
        {"S": "a", "N": "1"},
        {},
    ],
    ids=repr,
)
def test_an_attribute_value_no_baton_item_holds_is_refused_when_read(attribute: dict[str, Any]) -> None:
    # Given an item attribute of another type, or malformed (a wrong JSON type, two types, none)
    # When it is read / Then it is refused, never guessed at
    with pytest.raises(UnsupportedAttribute):
        from_attribute(attribute)


def test_a_whole_item_round_trips_as_boto3_would_write_and_read_it() -> None:
    # Given an item as the state store writes one
    plain: dict[str, str | int | bool] = {
        "pk": "run#r1",
        "sk": "meta",
        "meta_json": json.dumps({"stage": 3}),
        "version": 7,
        "expires_at": 1_798_765_432,
        "signed": True,
    }
    # When it is written and read back / Then both directions agree with boto3's
    item = to_item(plain)
    assert item == {name: TypeSerializer().serialize(value) for name, value in plain.items()}
    assert from_item(item) == {name: TypeDeserializer().deserialize(value) for name, value in item.items()}


def test_a_deployed_functions_cold_start_never_imports_boto3() -> None:
    # Given the agent, orchestrator, API and archiver functions, built as their first invocation builds them in
    # Lambda (clients without a boto3 session, each function's own environment)
    region = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    state = {"BATON_STATE_TABLE": "state"}
    builds = {
        "build_agent_runner": {**state, "BATON_CATALOG": "refund_app.catalog:CATALOG", "BATON_AGENT": "order_lookup"},
        "build_orchestrator": {
            **state,
            "BATON_CATALOG": "refund_app.catalog:CATALOG",
            "BATON_WORKFLOW": "refund",
            "BATON_AUDIT_KEY": "arn:aws:kms:us-east-1:123456789012:key/d543b271-d59a-46b1-9654-00bda1ca8f63",
            "BATON_RESOURCES": json.dumps({"refund_approvals": "https://sqs.us-east-1.amazonaws.com/1/approvals"}),
            "BATON_AGENT_FUNCTIONS": json.dumps(
                {agent: f"arn:aws:lambda:us-east-1:1:function:{agent}" for agent in AGENTS}
            ),
        },
        "build_api": {**state, "BATON_WORKFLOW_CATALOGS": json.dumps({"refund": "refund_app.catalog:CATALOG"})},
        "build_archiver": {**state, "BATON_ARCHIVE_BUCKET": "archive"},
    }
    for builder, env in builds.items():
        # When a fresh process runs it
        loaded = modules_after(
            "from baton.aws import AwsClients\n"
            f"from baton.runtime import {builder}\n"
            "import baton.state, baton.archive\n"
            "clients = AwsClients()\n"
            f"{builder}({env!r}, clients)\n"
            "clients.client('dynamodb')\n",
            env=region,
        )
        # Then its clients come from botocore, and neither boto3 nor s3transfer was imported
        assert "botocore.client" in loaded, builder
        assert not {"boto3", "s3transfer"} & loaded, builder
