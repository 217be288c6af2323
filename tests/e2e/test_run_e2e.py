"""tests/e2e/run_e2e.py without AWS: it skips cleanly without credentials; its checks and signing work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from tests.e2e import run_e2e

SCRIPT = Path(run_e2e.__file__)


def test_without_credentials_it_prints_one_line_and_exits_0(tmp_path: Path) -> None:
    # Given an environment where boto3 finds no credentials (no variables, files, profile or instance role)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(  # noqa: S603 (fixed command)
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "e2e skipped: no AWS credentials\n"
    assert result.stderr == ""


def step(stage: int, agent: str, status: str = "succeeded", attempts: int = 1) -> dict[str, Any]:
    return {"stage": stage, "index": 0, "agent": agent, "status": status, "attempts": attempts}


ESCALATED_RUN = {
    "status": "SUCCEEDED",
    "result": {"outcome": "escalated"},
    "steps": [
        step(1, "order_lookup"),
        step(2, "return_policy"),
        step(3, "payment_reversal", "failed", 3),
        step(4, "customer_notifier"),
        step(4, "case_escalator"),
    ],
}


def test_a_run_that_took_the_expected_route_passes() -> None:
    assert run_e2e.check_run("provider-failing", ESCALATED_RUN, run_e2e.ESCALATED) == []
    assert run_e2e.expectations(payments_live=False)["default"] is run_e2e.ESCALATED
    assert run_e2e.expectations(payments_live=True)["default"] is run_e2e.REFUNDED
    assert run_e2e.expectations(payments_live=False)["window-expired"] is run_e2e.DENIED


def test_a_run_that_differs_is_reported() -> None:
    refunded_instead = {**ESCALATED_RUN, "result": {"outcome": "refunded"}, "steps": ESCALATED_RUN["steps"][:4]}
    problems = run_e2e.check_run("default", refunded_instead, run_e2e.ESCALATED)
    assert [p.split(":")[0] for p in problems] == ["default", "default"]
    assert "outcome 'refunded', expected 'escalated'" in problems[0]
    assert "stages" in problems[1]
    failed = run_e2e.check_run("window-expired", {"status": "FAILED", "reason": "x", "steps": []}, run_e2e.DENIED)
    assert "status FAILED (x), expected SUCCEEDED" in failed[0]


@pytest.mark.parametrize(("method", "body"), [("POST", {"input": {"order_id": "ORD-1001"}}), ("GET", None)])
def test_requests_are_signed_for_execute_api(method: str, body: dict[str, Any] | None) -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret", "token")
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/workflows/refund/runs"
    request = run_e2e.signed_request(credentials, "eu-west-1", method, url, body, **{"Idempotency-Key": "k1"})
    headers = {k.lower(): v for k, v in request.header_items()}
    assert request.get_method() == method
    assert request.full_url == url
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "token"
    assert headers["idempotency-key"] == "k1"
    assert (request.data is None) is (body is None)
