"""Human approval from the command line, on the refund example: `baton run --approve auto|reject`, the question on
the terminal, and `baton approve RUN_ID` from another terminal while `baton run` waits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baton.cli import main

ROOT = Path(__file__).resolve().parents[2]
LARGE = ROOT / "examples" / "refund" / "large-amount.json"
REFUND = ["--catalog", "refund_app.catalog:CATALOG"]
APPROVER = "arn:aws:iam::123456789012:role/refund-approver"


def test_run_with_approve_auto_pauses_for_the_large_refund_then_completes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a refund above the amount the refund policy lets through without a person
    When `baton run refund --input examples/refund/large-amount.json --approve auto --out FILE`
    Then the run paused on the held refund, the declared approver approved it, the refund ran once, and the audit
    shows the request, the approver and the consumed grant (and verifies)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run.json"
    code = main([*REFUND, "run", "refund", "--input", str(LARGE), "--approve", "auto", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "payment_reversal asks to call refund_payment" in printed
    assert f"approved by {APPROVER}, grant consumed" in printed
    record = json.loads(out.read_text())
    assert record["result"]["outcome"] == "refunded"
    kinds = {r["kind"]: r for r in record["audit"]}
    assert kinds["approval_requested"]["detail"]["tool"] == "refund_payment"
    assert kinds["approval_decided"]["detail"]["approver"] == APPROVER
    assert kinds["grant_settled"]["detail"]["state"] == "consumed"
    key = out.with_name(out.name + ".key.pem")
    assert main(["audit", "verify", str(out), "--public-key", str(key)]) == 0


def test_run_with_approve_reject_refunds_nothing_and_the_planner_escalates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the large refund / When `--approve reject` / Then no refund, and the planner, seeing ApprovalRejected,
    hands the case to a person; the JSON summary lists the rejected approval."""
    monkeypatch.chdir(tmp_path)
    assert main([*REFUND, "run", "refund", "--input", str(LARGE), "--approve", "reject", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["result"]["outcome"] == "escalated"
    assert "refund_id" not in document["result"]
    (approval,) = document["approvals"]
    assert (approval["outcome"], approval["approver"], approval["tool"]) == ("rejected", APPROVER, "refund_payment")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_baton_run_shows_the_held_action_and_asks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a terminal / When `baton run` meets the held refund without --approve
    Then it shows the call (tool, arguments, hash, expiry, the policy that held it) and asks; "y" approves it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", _Terminal("y\nlooks right\n"))
    assert main([*REFUND, "run", "refund", "--input", str(LARGE)]) == 0
    printed = capsys.readouterr().out
    assert '"amount_cents": 24900' in printed
    assert "held by refund-above-100-needs-approval" in printed
    assert "approve this call? [y/N]" in printed
    assert "refunded" in printed


def _baton(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BATON_CATALOG"}
    return subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "baton.cli", *REFUND, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_baton_approve_decides_for_a_run_waiting_in_another_terminal(tmp_path: Path) -> None:
    """Given `baton run` waiting for the large refund's approval, with no terminal to ask on
    When `baton approve RUN_ID --decision reject --reason ...` runs in the same folder
    Then the run resumes and ends without refunding; approving again is refused in one line (the run is gone)."""
    env = {k: v for k, v in os.environ.items() if k != "BATON_CATALOG"}
    running = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
        [sys.executable, "-m", "baton.cli", *REFUND, "run", "refund", "--input", str(LARGE), "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        inbox = tmp_path / ".baton" / "approvals"
        deadline = time.monotonic() + 120  # a loaded machine: the subprocess imports and provisions everything
        while time.monotonic() < deadline and not list(inbox.glob("*/pending.json")):
            time.sleep(0.1)
        listed_files = list(inbox.glob("*/pending.json"))
        if not listed_files:
            running.kill()
            _, errors = running.communicate()
            pytest.fail(f"baton run never waited for approval: {errors[-2000:]}")
        (pending,) = listed_files
        run_id = pending.parent.name
        (listed,) = json.loads(pending.read_text())
        assert (listed["tool"], listed["arguments"]["amount_cents"]) == ("refund_payment", 24900)
        decided = _baton("approve", run_id, "--decision", "reject", "--reason", "call the customer", cwd=tmp_path)
        assert decided.returncode == 0, decided.stderr
        assert decided.stdout.startswith(f"rejected: approval {listed['approval_id']} of run {run_id}")
        output, _ = running.communicate(timeout=60)
    finally:
        running.kill()
    document = json.loads(output)
    assert document["result"]["outcome"] == "escalated"
    again = _baton("approve", run_id, "--decision", "approve", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1
    assert "no offline run" in again.stderr
    assert "Traceback" not in again.stderr + again.stdout


def test_baton_approve_with_stack_posts_the_decision_to_the_stacks_api_signed_with_sigv4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a deployed stack whose ApiUrl output names its API (the stack and the network played here)
    When `baton approve RUN_ID --decision approve --stack NAME`
    Then it POSTs {"decision", "reason", "approval_id"} to /runs/RUN_ID/approvals on that API, signed for
    execute-api in the API's region, and prints the API's answer in one line."""
    import urllib.request

    import baton.verification

    sent: list[urllib.request.Request] = []

    class Answer(io.BytesIO):
        status = 200

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    def urlopen(request: urllib.request.Request, timeout: float) -> Answer:
        sent.append(request)
        body = {"approval_id": "ap-" + "1" * 20, "state": "approved", "resumed": True}
        return Answer(json.dumps(body).encode())

    monkeypatch.chdir(tmp_path)
    api = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/"
    monkeypatch.setattr(baton.verification, "stack_outputs", lambda client, stack: {"ApiUrl": api})
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(SystemExit) as offline:  # without --stack: offline, and no run waits in this folder
        main(["approve", "refund_20260101T000000-abc", "--decision", "approve", "--approval", "ap-" + "1" * 20])
    assert offline.value.code == 2
    capsys.readouterr()
    run_id = "refund_20260101T000000-abc"
    args = ["approve", run_id, "--decision", "approve", "--approval", "ap-" + "1" * 20, "--stack", "Refund"]
    assert main(args) == 0
    (request,) = sent
    assert request.full_url == f"{api.rstrip('/')}/runs/{run_id}/approvals"
    assert json.loads(request.data or b"{}") == {"decision": "approve", "reason": "", "approval_id": "ap-" + "1" * 20}
    authorization = request.get_header("Authorization") or ""
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert capsys.readouterr().out.strip() == f"approved: approval ap-{'1' * 20} of run {run_id} (the run resumes)"
