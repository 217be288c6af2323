"""A tool's STS session, end to end offline: the provisioning names the session role and the table's ARN in the
agent's environment, the function's broker assumes the role through the agent's own (recorded) STS client, and the
tool writes through the session. moto's STS enforces no session policy: the policy sent is judged with
baton.iam_eval (tests/local/test_short_lived_credentials.py judges a neighbour's write with it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from baton.credentials import session_policy
from baton.iam_eval import Decision, Request, evaluate
from baton.local.engine import AwsCallDetail, LocalEngine
from baton.local.functions import agent_function_name

CALLS: list[AwsCallDetail] = []


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine("tests.local.sessions_app:CATALOG", on_call=CALLS.append) as local:
        yield local


def test_a_run_writes_its_item_through_a_session_named_after_it_and_scoped_to_it(engine: LocalEngine) -> None:
    # Given the sessions app, whose one tool declares a run-scoped session on the reports table
    # When a run goes end to end
    record = engine.run("sessions", {}, timeout_seconds=60)
    # Then it succeeded, the item it wrote is the run's
    assert record.status == "SUCCEEDED", record.reason
    ddb = engine.clients.client("dynamodb")
    table = engine.physical_ids["reports"]
    assert ddb.get_item(TableName=table, Key={"pk": {"S": f"{record.run_id}#report"}}).get("Item")
    # and the agent's function assumed the tool's session role, once, for 900 s, named after the run, with the
    # session policy derived for the run
    function = agent_function_name("reporter")
    assumed = [c for c in CALLS if (c.function, c.service, c.operation) == (function, "sts", "AssumeRole")]
    (call,) = assumed
    assert call.params["RoleArn"].endswith(":role/baton-local-session-write-report")
    assert call.params["DurationSeconds"] == 900
    assert call.params["RoleSessionName"] == record.run_id
    table_arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    grant = engine.catalog.tools["write_report"].session
    assert grant is not None
    policy = json.loads(call.params["Policy"])
    assert policy == session_policy(grant, table_arn, record.run_id)
    # and that policy admits the write the tool made (positive control) and no other run's
    own = Request("dynamodb:PutItem", table_arn, {"dynamodb:LeadingKeys": [f"{record.run_id}#report"]})
    other = Request("dynamodb:PutItem", table_arn, {"dynamodb:LeadingKeys": ["sessions_other#report"]})
    assert evaluate(policy, own) is Decision.ALLOW
    assert evaluate(policy, other) is Decision.IMPLICIT_DENY
    # and the agent's own role never wrote to the table
    assert not [c for c in CALLS if c.function == function and c.service == "dynamodb"]
