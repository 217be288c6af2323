"""`baton` as a user meets it: one command runs a workflow offline; bad input is one line and exit code 2,
found before a run starts; the other commands describe, check and draw the app."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from baton import __version__
from baton.cli import main
from baton.scaffold import create_app

ROOT = Path(__file__).resolve().parents[2]
ELIGIBLE = ROOT / "examples" / "refund" / "default.json"
REFUND = ["--catalog", "refund_app.catalog:CATALOG"]


def baton(
    *args: str, cwd: Path, stdin: str | bytes | None = None, catalog: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BATON_CATALOG"}
    return subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "baton.cli", *(REFUND if catalog else []), *args],
        capture_output=True,
        input=stdin.decode() if isinstance(stdin, bytes) else stdin,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def logs(directory: Path) -> list[Path]:
    return sorted((directory / ".baton" / "logs").glob("*.jsonl"))


# ---------------------------------------------------------------- baton run


def test_run_json_reports_the_eligible_refund_in_step_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the eligible example / When `baton run refund --input ... --json --out FILE`
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run.json"
    code = main([*REFUND, "run", "refund", "--input", str(ELIGIBLE), "--json", "--out", str(out)])
    # Then stdout is exactly one JSON document with the steps in start order
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["status"] == "SUCCEEDED"
    assert set(document) >= {"run_id", "workflow", "status", "result", "steps", "audit_head", "log_file"}
    assert [s["agent"] for s in document["steps"]] == [
        "order_lookup",
        "return_policy",
        "payment_reversal",
        "customer_notifier",
    ]
    assert all({"agent", "status", "started_at", "ended_at"} <= set(s) for s in document["steps"])
    # and the record file holds the audit chain, oldest first, which verifies
    record = json.loads(out.read_text())
    assert [r["seq"] for r in record["audit"]] == list(range(1, len(record["audit"]) + 1))
    assert record["audit"][-1]["hash"] == document["audit_head"]
    key = out.with_name(out.name + ".key.pem")
    assert main(["audit", "verify", str(out), "--public-key", str(key)]) == 0


def test_each_run_has_its_own_log_named_by_its_run_id_and_every_line_names_its_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two runs from the same folder
    monkeypatch.chdir(tmp_path)
    documents = []
    for _ in range(2):
        assert main([*REFUND, "run", "refund", "--input", str(ELIGIBLE), "--json"]) == 0
        documents.append(json.loads(capsys.readouterr().out))
    # Then each wrote .baton/logs/<run_id>.jsonl, named in --json as log_file, and nothing else is left there
    expected = sorted(tmp_path / ".baton" / "logs" / f"{d['run_id']}.jsonl" for d in documents)
    assert logs(tmp_path) == expected
    assert sorted(Path(d["log_file"]) for d in documents) == [path.resolve() for path in expected]
    assert sorted((tmp_path / ".baton" / "logs").iterdir()) == expected  # no temporary file left behind
    # and every log line of the functions carries its run id and the function that wrote it
    lines = [json.loads(line) for line in expected[0].read_text().splitlines()]
    entries = [line for line in lines if "level" in line]
    assert entries
    run_id = expected[0].stem
    assert all(entry["run_id"] == run_id for entry in entries)
    assert {entry["function_name"] for entry in entries} >= {
        "baton-orchestrator-refund",
        "baton-agent-order-lookup",
        "baton-agent-payment-reversal",
    }


def test_the_timeline_names_the_log_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*REFUND, "run", "refund", "--input", str(ELIGIBLE)]) == 0
    printed = capsys.readouterr().out
    [log] = logs(tmp_path)
    assert printed.splitlines()[0].endswith(f"log {log.relative_to(tmp_path)}")
    assert f"logs   {log.relative_to(tmp_path)}" in printed


def test_input_dash_reads_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ELIGIBLE.read_bytes())))
    assert main([*REFUND, "run", "refund", "--input", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["outcome"] == "refunded"


def test_audit_verify_names_the_first_edited_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Given a real run record whose 5th audit record is edited (a refund amount quietly changed)
    record_path = tmp_path / "run.json"
    assert main([*REFUND, "run", "refund", "--input", str(ELIGIBLE), "--json", "--out", str(record_path)]) == 0
    record = json.loads(record_path.read_text())
    record["audit"][4]["detail"]["tampered"] = True
    record_path.write_text(json.dumps(record))
    capsys.readouterr()
    # When it is verified with the workflow's public key / Then verification fails and names record 5
    key = record_path.with_name(record_path.name + ".key.pem")
    assert main(["audit", "verify", str(record_path), "--public-key", str(key)]) == 1
    printed = capsys.readouterr().out
    assert "NOT verified" in printed
    assert "record 5" in printed


def test_audit_verify_needs_a_public_key_from_outside_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run record and a key of another workflow's or another run's engine
    monkeypatch.chdir(tmp_path)
    record_path = tmp_path / "run.json"
    other = tmp_path / "other.json"
    assert main([*REFUND, "run", "refund", "--input", str(ELIGIBLE), "--json", "--out", str(record_path)]) == 0
    assert main([*REFUND, "run", "refund", "--input", str(ELIGIBLE), "--json", "--out", str(other)]) == 0
    capsys.readouterr()
    # When it is verified without a key / Then that is a usage error; with the wrong key, it does not verify
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "verify", str(record_path)])
    assert exit_info.value.code == 2
    assert main(["audit", "verify", str(record_path), "--public-key", str(other) + ".key.pem"]) == 1
    assert "does not verify" in capsys.readouterr().out


# ---------------------------------------------------------------- bad input: one line, exit code 2, nothing run


def unwritable(tmp_path: Path) -> str:
    """A path this process cannot create a file at (root ignores permissions: /sys is read-only for it too)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    candidate = locked / "run.json"
    try:
        candidate.open("a").close()
    except OSError:
        return str(candidate)
    candidate.unlink()
    for path in (Path("/sys/baton-run.json"), Path("/proc/baton-run.json")):
        try:
            path.open("a").close()
        except OSError:
            return str(path)
    pytest.skip("no unwritable path on this machine")


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["run", "refund", "--input", "missing.json"], "does not exist"),
        ("{not json", ["run", "refund", "--input", "input.json"], "is not valid JSON"),
        (b"\xff\xfe{\x00}", ["run", "refund", "--input", "input.json"], "is not UTF-8 text"),
        ("[" * 100_000 + "]" * 100_000, ["run", "refund", "--input", "input.json"], "nested too deeply"),
        ('{"order_id": 1' + "0" * 5000 + "}", ["run", "refund", "--input", "input.json"], "a number is too large"),
        ('{"order_id": "1001"}', ["run", "refund", "--input", "input.json"], r"order_id: expected a string matching"),
        ("{}", ["run", "refund", "--input", "input.json"], "order_id: field required"),
        ('{"order_id": "ORD-1001"}', ["run", "payroll", "--input", "input.json"], "unknown workflow 'payroll'; known"),
        ('{"order_id": "ORD-1001"}', ["run", "refund", "--input", "input.json", "--timeout", "0"], "--timeout"),
        ('{"order_id": "ORD-1001"}', ["run", "refund", "--input", "input.json", "--timeout", "-3"], "positive"),
        ('{"order_id": "ORD-1001"}', ["run", "refund", "--input", "input.json", "--out", "no/run.json"], "not exist"),
        ('{"order_id": "ORD-1001"}', ["run", "refund", "--input", "input.json", "--out", "."], "is a folder"),
        ('{"order_id": "ORD-1001"}', ["run", "refund", "--input", "input.json", "--out", "input.json/x"], "folder"),
        ('{"order_id": "ORD-1001"}', ["run", "refund"], "required: --input"),
        ('{"audit": 3}', ["audit", "verify", "input.json"], "is not a run record"),
        (None, ["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, setup: str | bytes | None, args: list[str], message: str
) -> None:
    if isinstance(setup, bytes):
        (tmp_path / "input.json").write_bytes(setup)
    elif setup is not None:
        (tmp_path / "input.json").write_text(setup)
    result = baton(*args, cwd=tmp_path)
    assert_one_line_error(result, message)
    assert logs(tmp_path) == []  # no run started


def test_an_unwritable_out_is_refused_before_the_run(tmp_path: Path) -> None:
    result = baton("run", "refund", "--input", str(ELIGIBLE), "--out", unwritable(tmp_path), cwd=tmp_path)
    assert_one_line_error(result, "is not writable")
    assert logs(tmp_path) == []


def test_a_validation_error_says_what_was_expected_never_the_value(tmp_path: Path) -> None:
    # Given an input whose values are a secret and a terminal escape sequence, and an extra field
    hostile = {"order_id": "sk_live_SECRET\u001b[2J", "reason": 7, "extra\u001b[31m": "x"}
    (tmp_path / "input.json").write_text(json.dumps(hostile))
    result = baton("run", "refund", "--input", "input.json", cwd=tmp_path)
    assert_one_line_error(result, r"order_id: expected a string matching ^ORD-\d{4,10}$")
    assert "reason: expected a string" in result.stderr
    assert "unexpected field" in result.stderr
    assert "SECRET" not in result.stderr
    assert "\u001b" not in result.stderr


def test_bad_input_on_standard_input_is_one_line(tmp_path: Path) -> None:
    result = baton("run", "refund", "--input", "-", cwd=tmp_path, stdin='{"order_id": "ORD-1"}')
    assert_one_line_error(result, "standard input is not a valid refund input: order_id")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A fresh `baton init` app, to break in a test."""
    return create_app(tmp_path / "shop").root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.attack("ASI05")
def test_a_typo_in_an_implementation_path_is_refused_before_the_run(app: Path) -> None:
    edit(app / "shop" / "catalog.py", '"shop.agents:classifier"', '"shop.agents:clasifier"')
    result = baton("run", "triage", "--input", "examples/default.json", cwd=app, catalog=False)
    assert_one_line_error(result, "agent 'classifier' implementation 'shop.agents:clasifier' does not resolve")
    assert "AttributeError" in result.stderr
    assert logs(app) == []


def test_a_catalog_error_is_one_line(app: Path) -> None:
    edit(app / "shop" / "catalog.py", 'tools=("get_customer",)', 'tools=("get_customers",)')
    result = baton("run", "triage", "--input", "examples/default.json", cwd=app, catalog=False)
    assert_one_line_error(result, "agent 'customer_lookup' uses unknown tool 'get_customers'")


def test_a_catalog_that_does_not_import_is_one_line_naming_the_line(app: Path) -> None:
    edit(app / "shop" / "catalog.py", 'name="classifier"', 'name="Classifier"')
    result = baton("workflows", cwd=app, catalog=False)
    assert_one_line_error(result, "AgentSpec: name: expected a string matching")
    assert "shop/catalog.py:" in result.stderr


# ---------------------------------------------------------------- baton --version, workflows


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"baton {__version__}"


def test_workflows_lists_agents_tools_side_effects_and_trust(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*REFUND, "workflows", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    [refund] = document["workflows"]
    assert refund["name"] == "refund"
    assert refund["execution"] == "standard"
    assert [a["name"] for a in refund["agents"]] == [
        "order_lookup",
        "return_policy",
        "payment_reversal",
        "case_escalator",
        "customer_notifier",
    ]
    tools = {t["name"]: t for a in refund["agents"] for t in a["tools"]}
    assert tools["refund_payment"]["side_effect"] == "irreversible"
    assert tools["refund_payment"]["output_trusted"] is False
    assert tools["get_order"] == {
        "name": "get_order",
        "description": "read one order by id",
        "side_effect": "read",
        "output_trusted": True,
    }
    # and the same, as text
    assert main([*REFUND, "workflows"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("refund  (standard execution)")
    assert "refund_payment     irreversible  untrusted output" in text


# ---------------------------------------------------------------- baton validate


def test_validate_passes_the_reference_app_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*REFUND, "validate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "note: agent 'case_escalator' needs planner params: reason" in lines[0]
    assert lines[-1].startswith("baton validate: refund_app.catalog:CATALOG is valid: 1 workflow, 5 agents")


def test_validate_prints_every_problem_and_exits_2(app: Path) -> None:
    # Given an app with a typo in a path, and a context key its agent's model has no field for
    edit(app / "shop" / "catalog.py", '"shop.tools:get_customer"', '"shop.tool:get_customer"')
    edit(app / "shop" / "catalog.py", 'context_keys=("customer_id",)', 'context_keys=("customer_id", "subject")')
    edit(app / "shop" / "planner.py", '("classifier", "finish", "triaged"),', '("classifier", "archive", "x"),')
    result = baton("validate", cwd=app, catalog=False)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("error: tool 'get_customer' implementation 'shop.tool:get_customer' does not resolve")
        and "ModuleNotFoundError" in line
        for line in lines
    )
    assert any(
        line.startswith("error: agent 'customer_lookup' receives context key 'subject'")
        and "CustomerLookupInput" in line
        for line in lines
    )
    assert any("ROUTES lead to 'archive'" in line for line in lines)
    assert lines[-1] == "baton validate: 3 problems in shop.catalog:CATALOG"
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_lists_every_catalog_error(app: Path) -> None:
    edit(app / "shop" / "catalog.py", 'tools=("get_customer",)', 'tools=("get_customers",)')
    edit(app / "shop" / "catalog.py", 'agents=("customer_lookup", "classifier")', 'agents=("customer_lookup", "clerk")')
    result = baton("validate", cwd=app, catalog=False)
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "error: agent 'customer_lookup' uses unknown tool 'get_customers'",
        "error: workflow 'triage' uses unknown agent 'clerk'",
        "baton validate: 2 problems in shop.catalog:CATALOG",
    ]


# ---------------------------------------------------------------- baton graph, init


def test_graph_of_an_unknown_workflow_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(baton("graph", "payroll", cwd=tmp_path), "unknown workflow 'payroll'; known: refund")


def test_init_creates_an_app_that_validates(tmp_path: Path) -> None:
    result = baton("init", "helpdesk", cwd=tmp_path, catalog=False)
    assert result.returncode == 0, result.stderr
    assert "baton run triage --input examples/default.json" in result.stdout
    checked = baton("validate", cwd=tmp_path / "helpdesk", catalog=False)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.splitlines()[-1].startswith("baton validate: helpdesk.catalog:CATALOG is valid")


@pytest.mark.parametrize(
    ("name", "message"),
    [("My-App", "is not a valid Python package name"), ("json", "would shadow"), ("class", "keyword")],
)
def test_init_refuses_a_name_that_is_no_package_name(tmp_path: Path, name: str, message: str) -> None:
    assert_one_line_error(baton("init", name, cwd=tmp_path, catalog=False), message)
    assert not (tmp_path / name).exists()


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "helpdesk").mkdir()
    (tmp_path / "helpdesk" / "notes.txt").write_text("mine")
    assert_one_line_error(baton("init", "helpdesk", cwd=tmp_path, catalog=False), "is not empty")
    assert [p.name for p in (tmp_path / "helpdesk").iterdir()] == ["notes.txt"]
