"""cdk-nag, checkov and cfn-lint on the synthesized template: nothing reported, nothing left unexplained.

checkov and cfn-lint run from the tool venv (.venv-tools, made by `make tools` from infra/tools-*.txt),
because checkov pins many packages that would conflict with the project's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from baton.infra.constructs.nag import ACKNOWLEDGED
from tests.infra.conftest import Synthesized

TOOLS_BIN = Path(__file__).resolve().parents[2] / ".venv-tools" / "bin"
CHECKOV_IAM_CHECKS = ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")


def tool(name: str) -> str:
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools` (the static analysis tools live in their own venv)")
    return str(path)


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    # Given the validation report cdk-nag wrote during synthesis (AwsSolutions and Serverless packs)
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    # Then no pack reports anything: errors and warnings alike are fixed or acknowledged
    assert report["pluginReports"] == []


def test_cdk_nag_packs_are_live(tmp_path: Path) -> None:
    # Given the same app with one resource that breaks an AwsSolutions and a Serverless rule
    from aws_cdk import App
    from aws_cdk import aws_sqs as sqs

    from baton.infra.app import build_app

    app, stack = build_app(App(context={"baton:bundle": "false"}, outdir=str(tmp_path)))
    sqs.Queue(stack, "Unacknowledged")
    # When it is synthesized, Then validation fails and names both packs' findings on that queue
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    findings = {
        (plugin["pluginName"], violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
    assert ("AwsSolutions", "AwsSolutions-SQS3", "Baton/Unacknowledged/Resource") in findings
    assert ("Serverless", "Serverless-SQSRedrivePolicy", "Baton/Unacknowledged/Resource") in findings
    assert all(path == "Baton/Unacknowledged/Resource" for _, _, path in findings)


def test_every_acknowledgement_names_one_finding_and_a_reason(synthesized: Synthesized) -> None:
    assert ACKNOWLEDGED
    for path, finding, reason in ACKNOWLEDGED:
        assert finding.startswith(("AwsSolutions-", "Serverless-")), (path, finding)
        # IAM5 findings are acknowledged one resource at a time, never for the whole rule
        if finding.startswith("AwsSolutions-IAM"):
            assert "[" in finding, (path, finding)
        assert len(reason) > 40, (path, finding)
        assert path.startswith(f"{synthesized.stack.stack_name}/")


def test_checkov_iam_checks_pass(synthesized: Synthesized) -> None:
    # Given the synthesized template
    template = synthesized.outdir / f"{synthesized.stack.stack_name}.template.json"
    # When checkov runs its IAM policy checks (credentials exposure, exfiltration, permissions management,
    # privilege escalation, unconstrained write) without downloading anything
    result = subprocess.run(  # noqa: S603 - fixed argv
        [
            tool("checkov"),
            "--file",
            str(template),
            "--framework",
            "cloudformation",
            "--check",
            ",".join(CHECKOV_IAM_CHECKS),
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # Then nothing fails (and the checks did run on our policies)
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert result.returncode == 0, result.stderr[-2000:]
    assert report["summary"]["passed"] > 0


def test_cfn_lint_reports_nothing(synthesized: Synthesized) -> None:
    template = synthesized.outdir / f"{synthesized.stack.stack_name}.template.json"
    result = subprocess.run(  # noqa: S603 - fixed argv
        [tool("cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout == "", result.stdout[-4000:]
    assert result.returncode == 0, result.stderr[-2000:]
