"""`baton` as a user meets it: one command runs a workflow offline; bad input is one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from baton.cli import main

ROOT = Path(__file__).resolve().parents[2]
ELIGIBLE = ROOT / "examples" / "refund" / "default.json"


def baton(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "baton.cli", "--catalog", "refund_app.catalog:CATALOG", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_run_json_reports_the_eligible_refund_in_step_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the eligible example / When `baton run refund --input ... --json --out FILE`
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run.json"
    code = main(
        [
            "--catalog",
            "refund_app.catalog:CATALOG",
            "run",
            "refund",
            "--input",
            str(ELIGIBLE),
            "--json",
            "--out",
            str(out),
        ]
    )
    # Then stdout is exactly one JSON document with the steps in start order
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["status"] == "SUCCEEDED"
    assert set(document) >= {"run_id", "workflow", "status", "result", "steps", "audit_head"}
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
    assert main(["audit", "verify", str(out)]) == 0


def test_audit_verify_names_the_first_edited_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Given a real run record whose 5th audit record is edited (a refund amount quietly changed)
    record_path = tmp_path / "run.json"
    assert (
        main(
            [
                "--catalog",
                "refund_app.catalog:CATALOG",
                "run",
                "refund",
                "--input",
                str(ELIGIBLE),
                "--json",
                "--out",
                str(record_path),
            ]
        )
        == 0
    )
    record = json.loads(record_path.read_text())
    record["audit"][4]["detail"]["tampered"] = True
    record_path.write_text(json.dumps(record))
    capsys.readouterr()
    # When it is verified / Then verification fails and names record 5
    assert main(["audit", "verify", str(record_path)]) == 1
    assert "BROKEN at record 5" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["run", "refund", "--input", "missing.json"], "does not exist"),
        ("{not json", ["run", "refund", "--input", "input.json"], "is not valid JSON"),
        ('{"order_id": "1001"}', ["run", "refund", "--input", "input.json"], "order_id"),
        ('{"order_id": "ORD-1001"}', ["run", "payroll", "--input", "input.json"], "unknown workflow 'payroll'"),
        ('{"audit": 3}', ["audit", "verify", "input.json"], "is not a run record"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, setup: str | None, args: list[str], message: str
) -> None:
    if setup is not None:
        (tmp_path / "input.json").write_text(setup)
    result = baton(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
