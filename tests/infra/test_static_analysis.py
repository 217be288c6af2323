"""cdk-nag, checkov, cfn-lint, cloudsplaining and parliament on the synthesized template: nothing reported,
nothing left unexplained.

The tools run from the tool venv (.venv-tools, made by `make tools` from the hashed infra/tools-lock.txt),
because checkov pins many packages that would conflict with the project's. cloudsplaining and parliament read
every role's inline policies from an account authorization details file written here from the template (its
intrinsic functions resolved to ARNs of a made-up account), with one planted role whose findings prove that both
tools and the parsing of their reports are live.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from baton.config import app_config, load_app
from baton.iam import PlatformRef, all_roles
from baton.infra.constructs.nag import ACKNOWLEDGED
from tests.infra.conftest import Synthesized

TOOLS_BIN = Path(__file__).resolve().parents[2] / ".venv-tools" / "bin"
CHECKOV_IAM_CHECKS = ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")
CLOUDSPLAINING_EXCLUSIONS = Path(__file__).parent / "cloudsplaining-exclusions.yml"
PARLIAMENT_EXCLUSIONS = Path(__file__).parent / "parliament-exclusions.yml"
ACCOUNT = "123456789012"
REGION = "eu-west-1"


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


# ---------------------------------------------------------------- cloudsplaining and parliament

# the property holding each resource type's physical name, and its ARN and Ref as CloudFormation resolves them
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
}
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/" + KEY_ID,
    "AWS::S3::Bucket": "arn:aws:s3:::{lower_name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
}
REF_IS_ARN = {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine", "AWS::SecretsManager::Secret"}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "Baton",
}


class Resolver:
    """Resolves a template's intrinsic functions to the strings CloudFormation would, in a made-up account.

    Anything it does not know fails the test loudly rather than handing the analysers a policy they cannot read.
    """

    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, dict[str, Any]] = template["Resources"]

    def name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        given = resource.get("Properties", {}).get(NAME_PROPERTY.get(resource["Type"], ""))
        return logical_id if given is None else str(self.value(given))

    def arn(self, logical_id: str) -> str:
        type_ = self.resources[logical_id]["Type"]
        if type_ not in ARN:
            raise KeyError(f"no ARN pattern for {type_} ({logical_id}): add it to ARN")
        name = self.name(logical_id)
        return ARN[type_].format(region=REGION, account=ACCOUNT, name=name, lower_name=name.lower())

    def ref(self, logical_id: str) -> str:
        if logical_id in PSEUDO:
            return PSEUDO[logical_id]
        type_ = self.resources[logical_id]["Type"]
        if type_ in REF_IS_ARN:
            return self.arn(logical_id)
        if type_ == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.name(logical_id)}"
        if type_ == "AWS::KMS::Key":
            return KEY_ID
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "StreamArn":
            # a stream's label is the time it was enabled (2026-01-01T00:00:00.000); parliament cannot parse an
            # ARN whose resource has colons and would report a mismatch, so this made-up label has none
            return self.arn(logical_id) + "/stream/2026-01-01T000000.000"
        raise KeyError(f"Fn::GetAtt {logical_id}.{attribute} is not resolved here: add it to Resolver.get_att")

    def value(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                return self.get_att(*(argument.split(".", 1) if isinstance(argument, str) else argument))
            if function == "Fn::Join":
                return str(argument[0]).join(str(part) for part in self.value(argument[1]))
            if function == "Fn::Sub" and isinstance(argument, str):
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._substitute(m.group(1)), argument)
            if function.startswith("Fn::"):
                raise KeyError(f"{function} is not resolved here: add it to Resolver.value")
        return {key: self.value(item) for key, item in value.items()}

    def _substitute(self, name: str) -> str:
        return self.get_att(*name.split(".", 1)) if "." in name else self.ref(name)


def _role_detail(name: str, trust: dict[str, Any], policies: list[dict[str, Any]]) -> dict[str, Any]:
    """One role as `aws iam get-account-authorization-details` lists it."""
    return {
        "Path": "/",
        "RoleName": name,
        "RoleId": "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper(),  # unique: roles are keyed by it
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "CreateDate": "2026-01-01T00:00:00Z",
        "AssumeRolePolicyDocument": trust,
        "InstanceProfileList": [],
        "RolePolicyList": policies,
        "AttachedManagedPolicies": [],
        "Tags": [],
        "RoleLastUsed": {},
    }


def authorization_details(template: dict[str, Any], extra_roles: list[dict[str, Any]]) -> dict[str, Any]:
    """Every role of the template with its inline policies (and any AWS::IAM::Policy attached to it), resolved."""
    resolver = Resolver(template)
    resources = template["Resources"]
    attached: dict[str, list[dict[str, Any]]] = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"].get("Roles", []):
                attached.setdefault(role["Ref"], []).append(resource["Properties"])
    roles = [
        _role_detail(
            logical_id,
            resolver.value(resource["Properties"]["AssumeRolePolicyDocument"]),
            [
                {"PolicyName": policy["PolicyName"], "PolicyDocument": resolver.value(policy["PolicyDocument"])}
                for policy in resource["Properties"].get("Policies", []) + attached.get(logical_id, [])
            ],
        )
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles + extra_roles, "Policies": []}


# Findings both tools must report on this role, so that "no finding" on Baton's roles cannot pass vacuously
PLANTED_ROLE = "PlantedOverbroadRole"
PLANTED = _role_detail(
    PLANTED_ROLE,
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    },
    [
        {
            "PolicyName": "Planted",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "PassAnyRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                    {"Sid": "ReadAnyObject", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                ],
            },
        }
    ],
)


def cloudsplaining_findings(report: dict[str, Any]) -> dict[str, set[str]]:
    """Role name -> "Category: action" for every finding of a cloudsplaining findings file (iam-findings-*.json)."""
    found: dict[str, set[str]] = {}
    for kind in ("inline_policies", "customer_managed_policies", "aws_managed_policies"):
        for policy in report.get(kind, {}).values():
            for category, result in policy.items():
                if not isinstance(result, dict) or not result.get("findings"):
                    continue
                for role in policy.get("AttachedTo", {}).get("roles", []):
                    found.setdefault(role, set()).update(
                        f"{category}: {finding if isinstance(finding, str) else json.dumps(finding)}"
                        for finding in result["findings"]
                    )
    return found


@dataclass(frozen=True)
class ParliamentFinding:
    role: str
    issue: str
    actions: tuple[str, ...]
    detail: str

    def __str__(self) -> str:
        return f"{self.issue}: {self.detail or ','.join(self.actions)}"


def parliament_findings(output: str) -> list[ParliamentFinding]:
    """Every finding parliament printed with --json (one JSON object per line)."""
    found = []
    for line in output.splitlines():
        finding = json.loads(line)
        location = finding.get("location", {})
        detail = finding.get("detail")
        found.append(
            ParliamentFinding(
                role=str(location.get("filepath", "")).rpartition("/")[2],
                issue=finding["issue"],
                actions=tuple(str(action).lower() for action in location.get("actions", [])),
                detail=json.dumps(detail) if detail else "",
            )
        )
    return found


def parliament_exclusions() -> list[dict[str, Any]]:
    exclusions: list[dict[str, Any]] = yaml.safe_load(PARLIAMENT_EXCLUSIONS.read_text())
    return exclusions


def excluded_by(finding: ParliamentFinding, exclusion: dict[str, Any]) -> bool:
    return (
        finding.issue == exclusion["issue"]
        and re.fullmatch(exclusion["role"], finding.role) is not None
        and finding.actions == tuple(action.lower() for action in exclusion["actions"])
    )


@dataclass(frozen=True)
class IamScan:
    roles: set[str]  # every role of the template that has a policy
    cloudsplaining: dict[str, set[str]]
    parliament: list[ParliamentFinding]

    def parliament_by_role(self) -> dict[str, set[str]]:
        """Role -> its parliament findings, without those parliament-exclusions.yml accepts."""
        found: dict[str, set[str]] = {}
        for finding in self.parliament:
            if not any(excluded_by(finding, exclusion) for exclusion in parliament_exclusions()):
                found.setdefault(finding.role, set()).add(str(finding))
        return found


@pytest.fixture(scope="module")
def iam_scan(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> IamScan:
    workdir = tmp_path_factory.mktemp("iam-scan")
    details = authorization_details(synthesized.template, [PLANTED])
    (workdir / "baton.json").write_text(json.dumps(details, indent=1))
    scanned = subprocess.run(  # noqa: S603 - fixed argv
        [
            tool("cloudsplaining"),
            "scan",
            "--input-file",
            str(workdir / "baton.json"),
            "--exclusions-file",
            str(CLOUDSPLAINING_EXCLUSIONS),
            "--output",
            str(workdir),
            "--skip-open-report",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # cloudsplaining exits 0 whatever it finds: its findings file is the verdict
    assert scanned.returncode == 0, scanned.stderr[-2000:]
    report = json.loads((workdir / "iam-findings-baton.json").read_text())
    linted = subprocess.run(  # noqa: S603 - fixed argv
        [
            tool("parliament"),
            "--auth-details-file",
            str(workdir / "baton.json"),
            "--include-community-auditors",
            "--minimum_severity",
            "INFO",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # parliament exits 1 when it prints a finding (the planted role always has some), anything else is a crash
    assert linted.returncode in {0, 1}, linted.stderr[-2000:]
    roles = {role["RoleName"] for role in details["RoleDetailList"] if role["RolePolicyList"]} - {PLANTED_ROLE}
    scanned_roles = {role["name"] for role in report["roles"].values()} - {PLANTED_ROLE}
    assert scanned_roles >= roles, "cloudsplaining did not scan every role"
    return IamScan(roles, cloudsplaining_findings(report), parliament_findings(linted.stdout))


def test_cloudsplaining_reports_no_finding_on_any_role(synthesized: Synthesized, iam_scan: IamScan) -> None:
    # Given every role of the template (the agents', orchestrators', state machines' and the api's)
    assert len(iam_scan.roles) >= len(synthesized.resources("AWS::Lambda::Function"))
    # Then cloudsplaining finds nothing on any of them
    assert {role: found for role, found in iam_scan.cloudsplaining.items() if role != PLANTED_ROLE} == {}


def test_cloudsplaining_report_parsing_catches_a_planted_finding(iam_scan: IamScan) -> None:
    # iam:PassRole and s3:GetObject on "*": resource exposure and data exfiltration
    assert {"ResourceExposure: iam:PassRole", "DataExfiltration: s3:GetObject"} <= iam_scan.cloudsplaining[PLANTED_ROLE]


def test_parliament_reports_no_finding_on_any_role(iam_scan: IamScan) -> None:
    assert {role: found for role, found in iam_scan.parliament_by_role().items() if role != PLANTED_ROLE} == {}


def test_parliament_output_parsing_catches_a_planted_finding(iam_scan: IamScan) -> None:
    planted = iam_scan.parliament_by_role()[PLANTED_ROLE]
    assert {"PERMISSIONS_MANAGEMENT_ACTIONS: iam:passrole", 'RESOURCE_STAR: ["s3:GetObject"]'} <= planted


def _items_without_reason(path: Path, sections: set[str]) -> list[str]:
    """The list items under the given top-level keys of a YAML file that lack a comment line right above them."""
    lines = path.read_text().splitlines()
    missing: list[str] = []
    section = ""
    for index, line in enumerate(lines):
        top = re.match(r"^([A-Za-z_-]+):", line)
        section = top.group(1) if top else section
        if section in sections and re.match(r"^\s*- ", line) and not lines[index - 1].strip().startswith("#"):
            missing.append(line.strip())
    return missing


def test_every_exclusion_names_its_reason_and_only_silences_required_wildcards(iam_scan: IamScan) -> None:
    # cloudsplaining: nothing is excluded; anything excluded later carries its reason on the line above it
    excluding = {"policies", "roles", "users", "groups", "exclude-actions"}
    assert set(yaml.safe_load(CLOUDSPLAINING_EXCLUSIONS.read_text())) >= excluding
    assert _items_without_reason(CLOUDSPLAINING_EXCLUSIONS, excluding) == []
    # parliament: each exclusion gives its reason, matches a finding on Baton's roles (none is stale), and
    # silences only actions Baton derives on "*" for a stated reason (baton.iam's wildcard_reason), never a grant
    wildcard_actions = {
        action.lower()
        for role in all_roles(load_app(app_config()).catalog)
        for statement in role.statements
        if statement.wildcard_reason and all(isinstance(ref, PlatformRef) for ref in statement.resources)
        for action in statement.actions
    }
    for exclusion in parliament_exclusions():
        assert len(exclusion["reason"]) > 80, exclusion
        assert set(exclusion["actions"]) <= wildcard_actions, exclusion
        matched = [f for f in iam_scan.parliament if excluded_by(f, exclusion) and f.role != PLANTED_ROLE]
        assert matched, f"stale exclusion: {exclusion}"
