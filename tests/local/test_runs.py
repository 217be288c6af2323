"""Baton's test app end to end offline: the real state machine on moto's interpreter, real handlers in-process,
each function with its own environment and its own recorded AWS calls."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from baton.catalog import ResourceKind
from baton.iam import Component, all_roles, iam_actions_of_call
from baton.local.engine import LocalEngine
from baton.local.functions import API_FUNCTION, agent_function_name, orchestrator_function_name
from baton.local.provisioning import STATE_TABLE
from baton.models import RunStatus, TaskStatus
from baton.runs import InvalidRunInput, RunRecord
from baton.statemachine import DEFINITION_FILE, render_definition
from baton.verification import verify_record
from tests.testapp.offline import Fakes


def run(engine: LocalEngine, workflow: str, run_input: dict[str, Any]) -> RunRecord:
    record = engine.run(workflow, run_input, timeout_seconds=60)
    verification = verify_record(record.model_dump(mode="json"), engine.public_key(workflow))
    assert verification.ok, verification.problems
    return record


def tasks_of(engine: LocalEngine, run_id: str) -> list[dict[str, Any]]:
    """The task items the orchestrator wrote for a run: what each agent was handed."""
    response = engine.clients.client("dynamodb").query(
        TableName=STATE_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TASK#{run_id}"}},
    )
    return [json.loads(item["task_json"]["S"]) for item in response["Items"]]


def test_a_sequential_workflow_runs_its_agents_in_order_and_signs_every_commit(engine: LocalEngine) -> None:
    # Given the relay workflow (reader -> scorer, a pure-logic agent with no tools -> notifier)
    record = run(engine, "relay", {"item_id": "IT-1", "note": "caller's words"})
    # Then each agent ran once, in order, and the result carries each one's output
    assert record.status is RunStatus.SUCCEEDED
    assert [(s.agent, s.status, s.attempts) for s in record.steps] == [
        ("reader", TaskStatus.SUCCEEDED, 1),
        ("scorer", TaskStatus.SUCCEEDED, 1),
        ("notifier", TaskStatus.SUCCEEDED, 1),
    ]
    assert record.result is not None
    assert record.result["score"] == {"score": 42}


def test_each_agent_receives_only_the_context_keys_it_declares(engine: LocalEngine) -> None:
    record = run(engine, "relay", {"item_id": "IT-1", "note": "secret plans"})
    handed = {t["agent"]: t for t in tasks_of(engine, record.run_id)}
    assert set(handed["reader"]["payload"]) == {"item_id"}
    assert set(handed["scorer"]["payload"]) == {"reader"}
    assert set(handed["notifier"]["payload"]) == {"item_id", "scorer"}
    assert all("note" not in t["payload"] for t in handed.values())
    # the caller's free text stays in the run's context, untrusted
    assert record.context["note"].trusted is False
    assert record.context["item_id"].trusted is True


def test_a_concurrent_stage_runs_its_tasks_at_once_and_keeps_each_ones_provenance(engine: LocalEngine) -> None:
    # Given the fanout workflow: the item and three external ratings in one stage
    fakes: Fakes = engine.fixtures["relay"]
    fakes.ratings.max_in_flight = 0
    record = run(engine, "fanout", {"item_id": "IT-2"})
    first = [s for s in record.steps if s.stage == 1]
    assert sorted(s.agent for s in first) == ["rater", "rater", "rater", "reader"]
    # Then the three calls were in flight at once (the fake service saw them together), and the external
    # ratings are untrusted while the table read is not
    assert fakes.ratings.max_in_flight == 3
    raters = [s for s in first if s.agent == "rater"]
    spans = [(datetime.fromisoformat(s.started_at), datetime.fromisoformat(s.ended_at)) for s in raters]
    assert max(start for start, _ in spans) <= min(end for _, end in spans), "the raters' spans did not overlap"
    assert record.result is not None
    assert record.result["ratings"] == {
        "a": {"source": "a", "stars": 4},
        "b": {"source": "b", "stars": 5},
        "c": {"source": "c", "stars": 3},
    }
    assert [record.context[f"rating_{s}"].trusted for s in "abc"] == [False, False, False]
    assert record.context["reader"].trusted is True


def test_an_express_workflow_runs_the_same_definition(engine: LocalEngine) -> None:
    record = run(engine, "relay-express", {"item_id": "IT-1"})
    assert record.status is RunStatus.SUCCEEDED
    assert [s.agent for s in record.steps] == ["reader", "scorer", "notifier"]


def test_every_aws_call_a_function_makes_is_an_action_its_derived_role_allows(engine: LocalEngine) -> None:
    # Given calls recorded while every workflow ran (botocore hooks on each function's own session)
    run(engine, "relay", {"item_id": "IT-1"})
    run(engine, "fanout", {"item_id": "IT-1"})
    run(engine, "payout", {"item_id": "IT-1"})
    roles = {(r.component, r.name): {a for s in r.statements for a in s.actions} for r in all_roles(engine.catalog)}
    functions = {agent_function_name(a): (Component.AGENT, a) for a in engine.catalog.agents}
    functions |= {orchestrator_function_name(w): (Component.ORCHESTRATOR, w) for w in engine.catalog.workflows}
    functions[API_FUNCTION] = (Component.API, "api")
    checked = 0
    for function, role in functions.items():
        made = {
            a for c in engine.aws_calls if c.function == function for a in iam_actions_of_call(c.service, c.operation)
        }
        allowed = roles[role]
        # Then nothing a function did needs an action its role lacks (it would be AccessDenied on AWS)
        assert made <= allowed, f"{function} made calls its role does not allow: {made - allowed}"
        checked += len(made)
    assert checked > 0, "no AWS call was recorded: the check would be vacuous"
    # and an agent never touches the state table: the state machine hands it its task and records its report
    agent_calls = {c.service for c in engine.aws_calls if c.function.startswith("baton-agent-")}
    assert "dynamodb" in agent_calls  # the reader reads the items table...
    assert not any(
        c.function.startswith("baton-agent-") and c.operation in {"PutItem", "Query", "TransactWriteItems"}
        for c in engine.aws_calls
    )


def test_the_state_machine_executed_is_the_file_in_statemachines(engine: LocalEngine) -> None:
    sfn = engine.clients.client("stepfunctions")
    for workflow, arn in engine.state_machines.items():
        deployed = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        function = engine.clients.client("lambda").get_function(FunctionName=orchestrator_function_name(workflow))
        expected = render_definition(
            {"OrchestratorFunctionArn": function["Configuration"]["FunctionArn"], "StateTableName": STATE_TABLE},
            execution=engine.catalog.workflows[workflow].execution,
        )
        assert json.loads(deployed) == json.loads(expected)
    assert DEFINITION_FILE.parent.name == "statemachines"


def test_offline_resources_follow_the_catalog_and_no_secret_sits_in_an_environment(engine: LocalEngine) -> None:
    kinds = {r.name: r.kind for r in engine.catalog.resources.values()}
    assert set(engine.physical_ids) == set(kinds)
    assert kinds["bank_key"] is ResourceKind.SECRET
    for function, env in engine.deployment.functions.items():
        assert engine.secret_value("bank_key") not in json.dumps(env), function
    payer = engine.deployment.functions[agent_function_name("payer")]
    assert json.loads(payer["BATON_RESOURCES"]) == {
        "bank_key": engine.physical_ids["bank_key"],
        "ratings_key": engine.physical_ids["ratings_key"],
    }


@pytest.mark.parametrize(
    ("run_input", "field"),
    [({"item_id": "1"}, "item_id"), ({"item_id": "IT-1", "pay_to": "attacker"}, "pay_to"), ({}, "item_id")],
)
def test_invalid_input_is_refused_before_any_run_starts(
    engine: LocalEngine, run_input: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidRunInput, match=field):
        engine.start("relay", run_input)


def test_the_fakes_the_runs_use_are_the_offline_fixtures(engine: LocalEngine) -> None:
    fakes: Fakes = engine.fixtures["relay"]
    before = len(fakes.ratings.requests)
    run(engine, "fanout", {"item_id": "IT-1"})
    assert len(fakes.ratings.requests) == before + 3  # one per rater of the stage
