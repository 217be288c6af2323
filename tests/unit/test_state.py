"""The DynamoDB store keeps what the in-memory fake promises (on moto)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from baton.audit import GENESIS_HASH, AuditChain, AuditKind
from baton.local.provisioning import create_state_table
from baton.models import RunStatus
from baton.state import DynamoStateStore
from baton.store import Commit, ConcurrentUpdate, RunMeta

TABLE = "state"


@pytest.fixture
def store() -> Iterator[DynamoStateStore]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_state_table(ddb, TABLE)
        yield DynamoStateStore(ddb, TABLE)


def meta(run_id: str, deadline: int | None, status: RunStatus = RunStatus.RUNNING, version: int = 1) -> RunMeta:
    return RunMeta(
        run_id=run_id,
        workflow=run_id.split("_", maxsplit=1)[0],
        status=status,
        version=version,
        stage=0,
        execution=f"arn:aws:states:us-east-1:123456789012:express:baton-x:{run_id}:1",
        caller="arn:aws:iam::123456789012:user/u",
        audit_seq=0,
        audit_head=GENESIS_HASH,
        audit_signature="",
        audit_key_id="k",
        created_at="t",
        updated_at="t",
        expires_at=2_000_000_000,
        deadline=deadline,
    )


def test_only_running_runs_with_a_passed_deadline_are_open_runs(store: DynamoStateStore) -> None:
    # Given running Express runs, one past its deadline and one not, a finished one, and a Standard one
    store.commit(Commit(meta=meta("flow_a-1", deadline=100), expected_version=None))
    store.commit(Commit(meta=meta("flow_a-2", deadline=900), expected_version=None))
    store.commit(Commit(meta=meta("flow_a-3", deadline=100), expected_version=None))
    store.commit(Commit(meta=meta("flow_a-3", 100, RunStatus.FAILED, version=2), expected_version=1))
    store.commit(Commit(meta=meta("other_a-1", deadline=100), expected_version=None))
    store.commit(Commit(meta=meta("flow_s-1", deadline=None), expected_version=None))
    # When the sweep asks for flow's open runs due before 500 / Then only the first
    assert store.open_runs("flow", 500) == ["flow_a-1"]


def test_a_commit_against_a_stale_version_is_refused(store: DynamoStateStore) -> None:
    store.commit(Commit(meta=meta("flow_a-1", None), expected_version=None))
    with pytest.raises(ConcurrentUpdate):
        store.commit(Commit(meta=meta("flow_a-1", None, version=2), expected_version=7))
    with pytest.raises(ConcurrentUpdate):
        store.commit(Commit(meta=meta("flow_a-1", None), expected_version=None))


def test_audit_items_never_carry_the_ttl_attribute(store: DynamoStateStore) -> None:
    # Given a commit with audit records / Then only the run's other items expire
    chain = AuditChain("flow_a-1", "flow", 0, GENESIS_HASH)
    chain.append(AuditKind.RUN_STARTED, "orchestrator", "t", input_hash="h")
    store.commit(Commit(meta=meta("flow_a-1", None), expected_version=None, audit=chain.records))
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=TABLE)["Items"]
    audit = [i for i in items if i["sk"]["S"].startswith("AUDIT#")]
    assert audit
    assert all("expires_at" not in i for i in audit)
    assert all("expires_at" in i for i in items if not i["sk"]["S"].startswith("AUDIT#"))
