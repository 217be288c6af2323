"""The archiver copies exactly the committed audit records, with their signatures, into the Object Lock bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.archive import AuditArchiver
from baton.models import Delegate, Finish, Task
from baton.state import commit_items
from baton.store import Commit
from tests.unit.harness import FOUND, Harness, Scripted

BUCKET = "audit-archive"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        client.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
            },
        )
        yield client


def stream_event(commits: list[Commit]) -> dict[str, Any]:
    """The DynamoDB stream records the state table emits for these commits (NEW_IMAGE)."""
    records = [
        {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": i["pk"], "sk": i["sk"]}, "NewImage": i}}
        for commit in commits
        for i in commit_items(commit)
    ]
    return {"Records": records}


def test_the_archive_holds_every_committed_audit_record_with_its_signature_and_nothing_else(s3: Any) -> None:
    # Given a run's commits, captured as the DynamoDB store would write them
    h = Harness(Scripted(Delegate(tasks=[Task(agent="reader")]), Finish(result={"ok": True})))
    commits: list[Commit] = []
    original = h.store.commit

    def capture(commit: Commit) -> None:
        commits.append(commit)
        original(commit)

    h.store.commit = capture  # type: ignore[method-assign]
    run_id = h.start()
    h.plan(run_id, 0)
    h.report(run_id, 1, 0, FOUND)
    h.plan(run_id, 1)
    # When the stream delivers them (context, steps and tasks included) to the archiver
    result = AuditArchiver(s3, BUCKET).handle(stream_event(commits))
    # Then one object per run per batch holds exactly the run's audit records, signed heads included
    archived = [
        record
        for obj in s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        for record in json.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    ]
    assert [r["seq"] for r in archived] == [r["seq"] for r in h.audit(run_id)]
    assert [r.get("signature") for r in archived] == [r.get("signature") for r in h.audit(run_id)]
    assert result == {"archived": len(archived), "objects": 1}
    # and the bucket keeps them under compliance-mode Object Lock
    head = s3.head_object(Bucket=BUCKET, Key=s3.list_objects_v2(Bucket=BUCKET)["Contents"][0]["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
