"""baton.iam on its own (no CDK): what a catalog implies for every role, checked on the test app and on the test
app plus one workflow. The derived policies are rendered with made-up ARNs and judged by the test evaluator."""

from __future__ import annotations

from typing import Any

import pytest

from baton import keys
from baton.catalog import Catalog, ResourceKind, ResourceRef
from baton.iam import (
    ANY,
    LEADING_KEYS,
    Component,
    Platform,
    PlatformRef,
    Ref,
    RoleSpec,
    agent_role,
    all_roles,
    api_role,
    archiver_role,
    orchestrator_role,
    render_policy,
    state_machine_role,
)
from baton.keys import AUDIT_ARCHIVE_PREFIX
from tests.infra.helpers import EXTENDED_CATALOG
from tests.infra.iam_eval import Decision, Request, evaluate
from tests.infra.rogue_agent import CATALOG as COMPROMISED_CATALOG
from tests.infra.rogue_agent import COMPROMISED_AGENT
from tests.testapp.catalog import CATALOG as TEST_CATALOG

CATALOGS = pytest.mark.parametrize(
    "catalog", [TEST_CATALOG, EXTENDED_CATALOG], ids=["test app", "test app + one workflow"]
)
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/state"


def arn(ref: Ref) -> str:
    """A made-up ARN per reference, shaped like the real one where the shape matters (the state table)."""
    if isinstance(ref, PlatformRef) and ref.kind is Platform.STATE_TABLE:
        return TABLE
    return f"arn:aws:{ref.kind.value}:us-east-1:123456789012:{ref.kind.value}/{ref.name or 'x'}"


def allowed(role: RoleSpec, action: str, resource: str, *leading: str) -> bool:
    request = Request(action, resource, {LEADING_KEYS: list(leading) if leading else None})
    return evaluate(render_policy(role, arn), request) is Decision.ALLOW


def item_keys(workflow: str) -> dict[str, str]:
    """One partition key of each kind for a run of the workflow."""
    run = keys.new_run_id(workflow)
    return {
        "RUN": keys.run_pk(run),
        "TASK": keys.task_pk(run),
        "JOURNAL": keys.journal_pk(run),
        "START": keys.start_pk(run),
        "IDEMPOTENCY": keys.idempotency_pk(workflow, "arn:aws:iam::123456789012:user/someone", "k-1"),
    }


@CATALOGS
def test_agent_statements_are_its_tools_grants_plus_logs_and_traces(catalog: Catalog) -> None:
    for agent in catalog.agents.values():
        # Given an agent
        role = agent_role(catalog, agent)
        # When its tool statements are set apart from the platform ones
        tool_statements = [s for s in role.statements if s.sid.startswith("Tool")]
        platform = {s.sid for s in role.statements} - {s.sid for s in tool_statements}
        # Then each of its tools' grants is one statement with exactly its actions, resource and conditions
        grants = {
            (tuple(sorted(g.actions)), (g.resource,), repr(g.conditions))
            for t in catalog.tools_of(agent)
            for g in t.all_grants()
        }
        derived = [(s.actions, s.resources, repr(s.conditions)) for s in tool_statements]
        assert set(derived) == grants, agent.name
        assert len(derived) == len(grants), agent.name  # one statement per distinct grant
        # and the rest is its own log group and traces: nothing on the state table, the key or anything else
        assert platform == {"WriteOwnLogs", "Tracing"}
        assert all(PlatformRef(kind=Platform.STATE_TABLE) not in s.resources for s in role.statements)


@CATALOGS
def test_an_agent_cannot_touch_the_state_table_at_all(catalog: Catalog) -> None:
    for agent in catalog.agents.values():
        role = agent_role(catalog, agent)
        for workflow in catalog.workflows:
            for kind, pk in item_keys(workflow).items():
                for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem"):
                    assert not allowed(role, action, TABLE, pk), (agent.name, action, kind)


def test_the_pure_logic_agent_scorer_has_no_resource_statements() -> None:
    # the test app's scorer declares no tools: its role is logs and traces only
    role = agent_role(TEST_CATALOG, TEST_CATALOG.agent("scorer"))
    assert TEST_CATALOG.agent("scorer").tools == ()
    assert [(s.sid, s.actions) for s in role.statements] == [
        ("WriteOwnLogs", ("logs:CreateLogStream", "logs:PutLogEvents")),
        ("Tracing", ("xray:PutTelemetryRecords", "xray:PutTraceSegments")),
    ]


@CATALOGS
def test_a_declared_secret_becomes_a_get_secret_value_grant_on_that_secret_alone(catalog: Catalog) -> None:
    for agent in catalog.agents.values():
        secrets = {s for t in catalog.tools_of(agent) for s in t.secrets}
        role = agent_role(catalog, agent)
        readable = {
            r.name
            for s in role.statements
            if "secretsmanager:GetSecretValue" in s.actions
            for r in s.resources
            if isinstance(r, ResourceRef)
        }
        assert readable == secrets, agent.name
        for statement in role.statements:
            if "secretsmanager:GetSecretValue" in statement.actions:
                assert statement.actions == ("secretsmanager:GetSecretValue",)
                assert statement.resources[0].kind is ResourceKind.SECRET


@CATALOGS
def test_resource_wildcards_carry_a_reason_and_nothing_else_is_a_wildcard(catalog: Catalog) -> None:
    for role in all_roles(catalog):
        for statement in role.statements:
            if ANY in statement.resources:
                assert statement.resources == (ANY,)
                assert statement.wildcard_reason
            else:
                assert statement.wildcard_reason is None
            for action in statement.actions:
                assert "*" not in action


@CATALOGS
def test_state_machine_invokes_exactly_its_workflow_functions(catalog: Catalog) -> None:
    for workflow in catalog.workflows.values():
        role = state_machine_role(catalog, workflow)
        (invoke,) = [s for s in role.statements if "lambda:InvokeFunction" in s.actions]
        names = {(r.kind, r.name) for r in invoke.resources if isinstance(r, PlatformRef)}
        assert names == {(Platform.ORCHESTRATOR_FUNCTION, workflow.name)} | {
            (Platform.AGENT_FUNCTION, a) for a in workflow.agents
        }
        assert {r.suffix for r in invoke.resources} == {"", ":*"}


@CATALOGS
def test_every_component_gets_one_role(catalog: Catalog) -> None:
    roles = all_roles(catalog)
    assert sorted((r.component, r.name) for r in roles) == sorted(
        [(Component.AGENT, a) for a in catalog.agents]
        + [(Component.ORCHESTRATOR, w) for w in catalog.workflows]
        + [(Component.STATE_MACHINE, w) for w in catalog.workflows]
        + [(Component.API, "api"), (Component.ARCHIVER, "archiver")]
    )


@CATALOGS
def test_each_workflows_roles_reach_its_own_items_and_no_other_workflows(catalog: Catalog) -> None:
    # Given every ordered pair of workflows (relay and relay-express: one name starts with the other)
    names = list(catalog.workflows)
    for own in names:
        orchestrator = orchestrator_role(catalog, catalog.workflow(own))
        machine = state_machine_role(catalog, catalog.workflow(own))
        mine = item_keys(own)
        # Then its orchestrator reads runs, starts, tasks and journal, and writes runs and tasks, of its own runs
        for kind in ("RUN", "START", "TASK", "JOURNAL"):
            assert allowed(orchestrator, "dynamodb:GetItem", TABLE, mine[kind]), (own, kind)
            assert allowed(orchestrator, "dynamodb:Query", TABLE, mine[kind]), (own, kind)
        for kind in ("RUN", "TASK"):
            assert allowed(orchestrator, "dynamodb:PutItem", TABLE, mine[kind]), (own, kind)
        assert allowed(orchestrator, "dynamodb:BatchWriteItem", TABLE, mine["RUN"], mine["TASK"])
        for kind in ("START", "JOURNAL", "IDEMPOTENCY"):
            assert not allowed(orchestrator, "dynamodb:PutItem", TABLE, mine[kind]), (own, kind)
        # and its state machine reads tasks and records the journal of its own runs, nothing else
        assert allowed(machine, "dynamodb:GetItem", TABLE, mine["TASK"])
        assert allowed(machine, "dynamodb:PutItem", TABLE, mine["JOURNAL"])
        for kind in ("RUN", "START", "IDEMPOTENCY"):
            assert not allowed(machine, "dynamodb:GetItem", TABLE, mine[kind]), (own, kind)
            assert not allowed(machine, "dynamodb:PutItem", TABLE, mine[kind]), (own, kind)
        for other in (n for n in names if n != own):
            theirs = item_keys(other)
            for kind, pk in theirs.items():
                for action in ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"):
                    assert not allowed(orchestrator, action, TABLE, pk), (own, other, action, kind)
                    assert not allowed(machine, action, TABLE, pk), (own, other, action, kind)
            # one foreign key among its own makes a batch foreign
            assert not allowed(orchestrator, "dynamodb:BatchWriteItem", TABLE, mine["RUN"], theirs["RUN"])


@CATALOGS
def test_the_api_requests_runs_and_reads_them_but_never_writes_run_state(catalog: Catalog) -> None:
    api = api_role(catalog)
    for name in catalog.workflows:
        mine = item_keys(name)
        assert allowed(api, "dynamodb:PutItem", TABLE, mine["START"])
        assert allowed(api, "dynamodb:PutItem", TABLE, mine["IDEMPOTENCY"])
        for kind in ("RUN", "START", "IDEMPOTENCY"):
            assert allowed(api, "dynamodb:GetItem", TABLE, mine[kind])
        for kind in ("RUN", "TASK", "JOURNAL"):
            assert not allowed(api, "dynamodb:PutItem", TABLE, mine[kind]), (name, kind)
        for kind in ("TASK", "JOURNAL"):
            assert not allowed(api, "dynamodb:GetItem", TABLE, mine[kind]), (name, kind)
        assert allowed(api, "states:StartExecution", arn(PlatformRef(kind=Platform.STATE_MACHINE, name=name)))
    # a workflow the catalog does not hold is not served
    for pk in item_keys("elsewhere").values():
        assert not allowed(api, "dynamodb:PutItem", TABLE, pk)
        assert not allowed(api, "dynamodb:GetItem", TABLE, pk)
    assert not allowed(api, "states:StartExecution", arn(PlatformRef(kind=Platform.STATE_MACHINE, name="elsewhere")))


def test_the_archiver_reads_the_stream_and_writes_audit_records_only() -> None:
    role = archiver_role()
    bucket = arn(PlatformRef(kind=Platform.ARCHIVE_BUCKET))
    stream = arn(PlatformRef(kind=Platform.STATE_TABLE_STREAM))
    assert allowed(role, "s3:PutObject", f"{bucket}/{AUDIT_ARCHIVE_PREFIX}relay/relay_1/00000001.json")
    assert not allowed(role, "s3:PutObject", f"{bucket}/elsewhere/x.json")
    for action in ("s3:DeleteObject", "s3:PutObjectRetention", "s3:BypassGovernanceRetention", "s3:GetObject"):
        assert not allowed(role, action, f"{bucket}/{AUDIT_ARCHIVE_PREFIX}relay/relay_1/00000001.json"), action
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert allowed(role, action, stream)
        assert not allowed(role, action, TABLE)
    assert not allowed(role, "dynamodb:GetItem", TABLE, "RUN#relay_1")


def test_render_appends_suffixes_and_renders_conditions_as_lists() -> None:
    workflow = next(iter(TEST_CATALOG.workflows.values()))
    policy: dict[str, Any] = render_policy(state_machine_role(TEST_CATALOG, workflow), arn)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    orchestrator = arn(PlatformRef(kind=Platform.ORCHESTRATOR_FUNCTION, name=workflow.name))
    assert orchestrator in by_sid["InvokeWorkflowFunctions"]["Resource"]
    assert orchestrator + ":*" in by_sid["InvokeWorkflowFunctions"]["Resource"]
    assert by_sid["RecordAttempts"]["Condition"] == {
        "ForAllValues:StringLike": {LEADING_KEYS: [keys.journal_items(workflow.name)]}
    }
    assert by_sid["Tracing"]["Resource"] == ["*"]


def test_the_compromised_catalog_gives_the_rogue_exactly_the_readers_role() -> None:
    # the rogue agent (tests/infra/rogue_agent.py) runs under the role the test app's agent has: same derivation
    agent = TEST_CATALOG.agent(COMPROMISED_AGENT)
    rogue = COMPROMISED_CATALOG.agent(COMPROMISED_AGENT)
    assert rogue.implementation != agent.implementation
    assert agent_role(COMPROMISED_CATALOG, rogue) == agent_role(TEST_CATALOG, agent)
    assert all_roles(COMPROMISED_CATALOG) == all_roles(TEST_CATALOG)
