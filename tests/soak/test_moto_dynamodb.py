"""The DynamoDB part of the moto patch (baton/local/moto_patches.py): safe and linear under concurrent runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from baton.local import moto_patches


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        moto_patches.install()
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield ddb
        finally:
            moto_patches.uninstall()


def put(pk: str, sk: str, **extra: str) -> dict[str, Any]:
    return {
        "Put": {"TableName": "t", "Item": {"pk": {"S": pk}, "sk": {"S": sk}} | {k: {"S": v} for k, v in extra.items()}}
    }


def query(ddb: Any, pk: str) -> list[str]:
    items = ddb.query(TableName="t", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}})[
        "Items"
    ]
    return [item["sk"]["S"] for item in items]


def test_a_cancelled_transaction_undoes_only_its_own_items(table: Any) -> None:
    # Given an existing item and a write another writer made
    table.transact_write_items(TransactItems=[put("a", "1", v="old")])
    table.put_item(TableName="t", Item={"pk": {"S": "b"}, "sk": {"S": "1"}})
    # When a transaction writes a new item, overwrites one and then fails its condition
    failing = [
        put("a", "2"),
        put("a", "1", v="new"),
        {
            "ConditionCheck": {
                "TableName": "t",
                "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    with pytest.raises(ClientError, match="TransactionCanceled"):
        table.transact_write_items(TransactItems=failing)
    # Then its writes are undone, the other writer's item stays, and queries read one partition in order
    assert query(table, "a") == ["1"]
    assert table.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})["Item"]["v"]["S"] == "old"
    assert query(table, "b") == ["1"]


def test_concurrent_writers_and_readers_do_not_trip_over_each_other(table: Any) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(40):
                table.transact_write_items(TransactItems=[put(f"p{n}", f"{i:03d}"), put(f"q{n}", f"{i:03d}")])
                query(table, f"p{(n + 1) % 4}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [len(query(table, f"p{n}")) for n in range(4)] == [40] * 4
