"""AwsClients without a boto3 session (a deployed function's) makes the clients boto3 would, S3's extras included."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from boto3.s3.inject import inject_s3_transfer_methods
from moto import mock_aws

from baton.aws import S3_TRANSFER_METHODS, AwsClients


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_the_s3_client_gets_every_method_boto3_adds_to_one() -> None:
    # Given what boto3's own session adds to the S3 client class it makes
    added: dict[str, object] = {}
    inject_s3_transfer_methods(class_attributes=added)
    # Then a sessionless AwsClients adds the same methods (a boto3 upgrade adding one fails here)
    assert set(S3_TRANSFER_METHODS) == set(added)


@mock_aws
def test_a_sessionless_s3_client_uploads_and_downloads_files_as_a_boto3_one_does(tmp_path: Path) -> None:
    # Given an S3 client from a deployed function's AwsClients (no boto3 session) and a bucket
    s3 = AwsClients().client("s3")
    s3.create_bucket(Bucket="reports")
    source, copy = tmp_path / "report.csv", tmp_path / "copy.csv"
    source.write_text("order,amount\nORD-1001,4999\n")
    # When a tool uploads a file with boto3's transfer method and downloads it again
    s3.upload_file(str(source), "reports", "r/report.csv")
    s3.download_file("reports", "r/report.csv", str(copy))
    # Then the object went through S3 (a boto3 client reads it) and the file came back whole
    assert boto3.client("s3").get_object(Bucket="reports", Key="r/report.csv")["Body"].read() == source.read_bytes()
    assert copy.read_bytes() == source.read_bytes()


@mock_aws
def test_a_sessionless_client_is_cached_and_observed_like_a_session_ones() -> None:
    # Given a deployed function's AwsClients with an observer
    seen: list[tuple[str, str]] = []
    clients = AwsClients(observer=lambda service, operation, _params: seen.append((service, operation)))
    # When a client is asked for twice and called
    ddb = clients.client("dynamodb")
    assert clients.client("dynamodb") is ddb
    ddb.list_tables()
    # Then one client served both, and its call was observed
    assert seen == [("dynamodb", "ListTables")]
