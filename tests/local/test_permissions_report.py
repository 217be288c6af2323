"""`baton permissions report`: the declared example inputs run offline, every AWS call each function made judged
against the IAM statements derived for its role (baton.permissions).

The example apps (this repository's root pyproject.toml declares both apps' examples) must report no uncovered call;
the test app of tests/local/permissions_app.py misbehaves on purpose: a tool that Scans with only GetItem granted,
one that reads a table its grants do not name, and an over-broad grant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from baton.cli import main
from baton.config import AppConfig, app_config, load_app
from baton.iam import LEADING_KEYS, Component, agent_role, all_roles
from baton.local.engine import ACCOUNT, REGION
from baton.permissions import (
    Call,
    Deployed,
    Report,
    Untranslatable,
    declared_examples,
    judge_function,
    requests_of,
    run_examples,
    table_lines,
)
from refund_app.catalog import CATALOG as REFUND_CATALOG
from support_triage_app.catalog import CATALOG as TRIAGE_CATALOG
from tests.local.permissions_app import CATALOG as PROBE_CATALOG

ROOT = Path(__file__).resolve().parents[2]
PROBE_APP = "tests.local.permissions_app:CATALOG"


def example_apps_config() -> AppConfig:
    """This repository's own app (both example apps' catalogs), as `make test` reports it from the root."""
    return app_config(env={}, cwd=ROOT)


def report_of_the_example_apps() -> Report:
    config = example_apps_config()
    return run_examples(config, declared_examples(config, load_app(config).catalog))


@pytest.fixture(scope="module")
def example_report() -> Report:
    return report_of_the_example_apps()


def probe_app(directory: Path, examples: str | None, *scenarios: str) -> Path:
    """A folder with a pyproject.toml naming the probe app and `examples`, and one input file per scenario."""
    declared = "" if examples is None else f"\n[tool.baton.examples]\n{examples}\n"
    (directory / "pyproject.toml").write_text(f'[tool.baton]\ncatalog = "{PROBE_APP}"\n{declared}')
    for scenario in scenarios:
        (directory / f"{scenario}.json").write_text(json.dumps({"scenario": scenario}))
    return directory


def report_command(
    directory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str, dict[str, Any] | None]:
    """`baton permissions report --json report.json` in `directory`: exit code, stdout, stderr, the JSON written."""
    monkeypatch.chdir(directory)
    monkeypatch.delenv("BATON_CATALOG", raising=False)
    out = directory / "report.json"
    try:
        code = main(["permissions", "report", "--json", str(out)])
    except SystemExit as exit_:
        code = int(str(exit_.code))
    captured = capsys.readouterr()
    return code, captured.out, captured.err, json.loads(out.read_text()) if out.exists() else None


def function_of(document: dict[str, Any], component: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in document["functions"] if (f["component"], f["name"]) == (component, name))
    return found


def statement_of(function: dict[str, Any], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in function["statements"] if s["sid"] == sid)
    return found


# ---------------------------------------------------------------- the example apps


def test_the_example_apps_report_no_uncovered_call_and_lists_each_agents_statements(example_report: Report) -> None:
    """Given every example input of the example apps (as the root pyproject.toml declares), run offline in turn
    When each AWS call their functions made is judged against the statements derived for the caller's role
    Then no call is uncovered, and every agent, orchestrator and the API is listed with each statement of its role,
    exercised, unexercised or (logs and traces) runtime."""
    assert example_report.ok, example_report.uncovered
    assert example_report.uncovered == ()
    config = example_apps_config()
    catalog = load_app(config).catalog
    declared = {e.label for e in declared_examples(config, catalog)}
    assert {r.example for r in example_report.runs if " -> " not in r.example} == declared
    # and the runs the security-alerting example's event started, through each subscriber's starter
    assert {r.example for r in example_report.runs if " -> " in r.example} == {
        "examples/security-alerting/default.json -> alert-enrichment",
        "examples/security-alerting/default.json -> alert-notification",
    }
    for app in ("refund", "support-triage", "compliance-review", "threat-intel"):  # every example input is declared
        assert {f"examples/{app}/{p.name}" for p in (ROOT / "examples" / app).glob("*.json")} <= declared
    assert {*REFUND_CATALOG.agents, *TRIAGE_CATALOG.agents} <= set(catalog.agents)
    listed = {(f.component, f.name): f for f in example_report.functions}
    derived = {(r.component, r.name): r for r in all_roles(catalog) if r.component in _JUDGED}
    assert set(listed) == set(derived)
    for key, role in derived.items():
        assert [s.sid for s in listed[key].statements] == [s.sid for s in role.statements], key
        for statement in listed[key].statements:
            if statement.sid in ("WriteOwnLogs", "Tracing", "ConsumeTriggerQueue"):
                assert statement.status == "runtime", (key, statement.sid)
            else:
                assert statement.status in ("exercised", "unexercised"), (key, statement.sid)
    # every agent of the refund and support-triage apps ran, and each of its statements allowed a call it made
    for name in sorted({*REFUND_CATALOG.agents, *TRIAGE_CATALOG.agents}):
        report = example_report.function(Component.AGENT, name)
        assert report.invoked, name
        statements = [s for s in report.statements if s.status != "runtime"]
        assert statements, name
        assert all(s.status == "exercised" for s in statements), (name, statements)
    order_lookup = example_report.function(Component.AGENT, "order_lookup")
    assert [(s.sid, s.used_actions) for s in order_lookup.statements if s.status == "exercised"] == [
        ("ToolGetOrder0", ("dynamodb:GetItem",))
    ]
    faq = {s.sid: s for s in example_report.function(Component.AGENT, "faq").statements}
    assert faq["AgentInvokeModel"].status == "exercised"  # the model double's Converse, authorised as InvokeModel
    assert faq["ToolSearchArticles0"].used_actions == ("dynamodb:Scan",)
    # the JSON document lists them per function too, and the table names every role
    document = example_report.as_json()
    assert document["ok"] is True
    assert document["summary"]["uncovered_calls"] == 0
    assert function_of(document, "agent", "order_lookup")["exercised"] == ["ToolGetOrder0"]
    assert all("unexercised" in f and "exercised" in f for f in document["functions"])
    table = "\n".join(table_lines(example_report))
    for function in example_report.functions:
        assert function.role in table


_JUDGED = (Component.AGENT, Component.ORCHESTRATOR, Component.API, Component.STARTER)


def test_the_report_of_the_example_apps_is_the_same_run_twice(example_report: Report) -> None:
    """Given the example apps' report
    When the declared examples run again, in a fresh offline deployment
    Then the JSON document and the table are the same (no timestamps, no run ids, sorted)."""
    again = report_of_the_example_apps()
    assert again.as_json() == example_report.as_json()
    assert table_lines(again) == table_lines(example_report)


# ---------------------------------------------------------------- a tool beyond its grants, an over-broad grant


@pytest.mark.attack("ASI03")
def test_a_tool_that_scans_a_table_or_reaches_another_beyond_its_grants_is_uncovered_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given an app whose tool granted dynamodb:GetItem on the orders table Scans it, and whose other tool granted
    the same reads the ledger table instead (offline both succeed: moto enforces no IAM)
    When `baton permissions report` runs their examples
    Then each call is reported uncovered, one line each naming the agent, the action and the table, and it exits 1."""
    directory = probe_app(tmp_path, 'probe = ["scan.json", "reach.json"]', "scan", "reach")
    code, out, err, document = report_command(directory, monkeypatch, capsys)
    assert code == 1, err
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"
    assert err.splitlines() == [
        f"baton: uncovered call: agent reacher made dynamodb:GetItem on {table}/ledger "
        "(dynamodb:LeadingKeys ORD-1): no statement of its role allows it",
        f"baton: uncovered call: agent scanner made dynamodb:Scan on {table}/orders: "
        "no statement of its role allows it",
    ]
    assert document is not None
    assert document["ok"] is False
    assert [(u["function"], u["action"], u["resource"]) for u in document["uncovered"]] == [
        ("baton-agent-reacher", "dynamodb:GetItem", f"{table}/ledger"),
        ("baton-agent-scanner", "dynamodb:Scan", f"{table}/orders"),
    ]
    # the runs themselves succeeded: only the report sees what AWS would refuse
    assert {r["status"] for r in document["runs"]} == {"SUCCEEDED"}
    # and the table shows each uncovered call on its agent's row, beside the grant the call did not use
    assert "UNCOVERED" in out
    scanner = function_of(document, "agent", "scanner")
    assert scanner["unexercised"] == ["ToolScanOrders0"]
    assert [u["action"] for u in scanner["uncovered"]] == ["dynamodb:Scan"]


def test_an_over_broad_grant_is_listed_unexercised_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given an agent whose read tool is granted GetItem and DeleteItem but only gets, and whose second tool (granted
    PutItem on the ledger) it never calls
    When `baton permissions report` runs its example
    Then DeleteItem is an unused action of an exercised statement, the ledger statement is unexercised (a candidate
    for removal), the agents no example reached are marked not invoked, and it exits 0 (nothing is uncovered)."""
    directory = probe_app(tmp_path, 'probe = ["honest.json"]', "honest")
    code, out, err, document = report_command(directory, monkeypatch, capsys)
    assert code == 0, err
    assert err == ""
    assert document is not None
    assert document["ok"] is True
    honest = function_of(document, "agent", "honest")
    assert honest["exercised"] == ["ToolReadOrder0"]
    assert honest["unexercised"] == ["ToolWriteLedger0"]
    assert honest["unused_actions"] == ["ToolReadOrder0: dynamodb:DeleteItem"]
    read = statement_of(honest, "ToolReadOrder0")
    assert (read["used_actions"], read["unused_actions"]) == (["dynamodb:GetItem"], ["dynamodb:DeleteItem"])
    assert statement_of(honest, "WriteOwnLogs")["status"] == "runtime"
    assert function_of(document, "agent", "scanner")["invoked"] is False
    assert document["summary"]["unexercised"] == 3  # the ledger grant, and the tools of the two agents never run
    row = next(line for line in out.splitlines() if "ToolWriteLedger0" in line)
    assert "unexercised" in row
    assert "table ledger" in row
    assert "unused: dynamodb:DeleteItem" in out
    assert "agent reacher, agent scanner" in out


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("examples", "scenarios", "message"),
    [
        (None, (), "no example inputs declared: add [tool.baton.examples]"),
        ('triage = ["honest.json"]', ("honest",), "examples name workflow 'triage', which the catalog lacks"),
        ('probe = ["missing/*.json"]', (), "example pattern 'missing/*.json' of 'probe' matches no file"),
        ('probe = ["nope.json"]', ("nope",), "example 'nope.json' is not a valid probe input"),
        ("probe = 3", (), "examples of 'probe' must be a list of files or globs"),
    ],
    ids=["none declared", "unknown workflow", "no file matches", "invalid input", "not a list"],
)
def test_a_wrong_declaration_is_one_line_and_exit_2_before_anything_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    examples: str | None,
    scenarios: tuple[str, ...],
    message: str,
) -> None:
    """Given a pyproject.toml whose examples are missing or wrong
    When `baton permissions report` runs
    Then it says what is wrong in one line, exits 2, and writes no report."""
    code, out, err, document = report_command(probe_app(tmp_path, examples, *scenarios), monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in out + err
    assert document is None


# ---------------------------------------------------------------- calls, as IAM authorises them

DEPLOYED = Deployed(
    region=REGION,
    account=ACCOUNT,
    physical_ids={"orders": "orders", "ledger": "ledger"},
    state_table="baton-state",
    state_machines={},
    audit_keys={"probe": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1"},
    partition_keys={"orders": "order_id", "ledger": "entry_id", "baton-state": "pk"},
)
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"


def test_each_call_becomes_the_requests_iam_authorises_it_as() -> None:
    """Given recorded calls of the kinds Baton's functions make
    When each is translated
    Then a transaction is one request per item (as its own action), a query names its partition key in
    dynamodb:LeadingKeys, a scan carries none, Converse on an inference profile is the profile and its foundation
    model, and an operation the report does not know is refused, never guessed."""
    transact = Call(
        "f",
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "baton-state", "Item": {"pk": {"S": "START#r"}, "sk": {"S": "REQUEST"}}}},
                {"Update": {"TableName": "orders", "Key": {"order_id": {"S": "ORD-1"}}}},
            ]
        },
    )
    assert [(r.action, r.resource, r.context[LEADING_KEYS]) for r in requests_of(transact, DEPLOYED)] == [
        ("dynamodb:PutItem", f"{TABLE}/baton-state", ["START#r"]),
        ("dynamodb:UpdateItem", f"{TABLE}/orders", ["ORD-1"]),
    ]
    query = Call(
        "f",
        "dynamodb",
        "Query",
        {
            "TableName": "baton-state",
            "KeyConditionExpression": "#p = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeNames": {"#p": "pk"},
            "ExpressionAttributeValues": {":pk": {"S": "RUN#r"}, ":prefix": {"S": "STEP#"}},
        },
    )
    assert [r.context[LEADING_KEYS] for r in requests_of(query, DEPLOYED)] == [["RUN#r"]]
    (scan,) = requests_of(Call("f", "dynamodb", "Scan", {"TableName": "orders"}), DEPLOYED)
    assert (scan.action, scan.resource, scan.context[LEADING_KEYS]) == ("dynamodb:Scan", f"{TABLE}/orders", None)
    converse = Call("f", "bedrock-runtime", "Converse", {"modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0"})
    assert [r.resource for r in requests_of(converse, DEPLOYED)] == [
        f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
        f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
    ]
    with pytest.raises(Untranslatable, match="no IAM translation for dynamodb:DeleteTable"):
        requests_of(Call("f", "dynamodb", "DeleteTable", {"TableName": "orders"}), DEPLOYED)
    with pytest.raises(Untranslatable, match="'stranger' is none of this deployment's tables"):
        requests_of(Call("f", "dynamodb", "GetItem", {"TableName": "stranger", "Key": {}}), DEPLOYED)


def test_a_call_the_report_cannot_translate_is_uncovered_with_the_reason() -> None:
    """Given an agent whose grants allow GetItem on orders
    When its calls are a GetItem of an order and an operation the report cannot translate
    Then the GetItem exercises the statement and the other call is uncovered, with its reason (never assumed
    allowed)."""
    role = agent_role(PROBE_CATALOG, PROBE_CATALOG.agent("scanner"))
    calls = [
        Call("baton-agent-scanner", "dynamodb", "GetItem", {"TableName": "orders", "Key": {"order_id": {"S": "O"}}}),
        Call("baton-agent-scanner", "dynamodb", "DeleteTable", {"TableName": "orders"}),
    ]
    report = judge_function("baton-agent-scanner", role, calls, DEPLOYED)
    assert [(s.sid, s.status) for s in report.statements] == [
        ("ToolScanOrders0", "exercised"),
        ("WriteOwnLogs", "runtime"),
        ("Tracing", "runtime"),
    ]
    assert [(u.action, u.reason) for u in report.uncovered] == [
        ("dynamodb:DeleteTable", "no IAM translation for dynamodb:DeleteTable (baton.permissions.requests_of)")
    ]
