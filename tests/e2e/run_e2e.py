"""`make e2e`: the refund example on a real AWS account, end to end, then torn down. Opt-in; never in CI.

    .venv/bin/python tests/e2e/run_e2e.py [--stack NAME] [--keep] [--payments-live] [--timeout SECONDS]

With no AWS credentials (boto3 finds none) it prints "e2e skipped: no AWS credentials" and exits 0. Otherwise,
in the account and region of those credentials (AWS_REGION or the profile's region; the environment must be
CDK-bootstrapped: `npx cdk bootstrap aws://ACCOUNT/REGION`):

 1. `cdk deploy` this repository's app (the refund example, [tool.baton] in pyproject.toml) into a new stack
    with a unique name (BatonE2e<UTC time><random>), with baton:retain=false so that destroying it removes
    its tables, secrets and log groups too (the audit archive bucket, locked for one day here, and the
    workflow's audit signing key are always retained: delete them by hand once the lock has passed);
 2. seed the stack's orders table with the example's own offline seed (refund_app.offline.prepare, the orders
    the offline tests use), through the real table;
 3. start a run for each of examples/refund/{default,window-expired,provider-failing}.json through the real
    API (POST /workflows/refund/runs, SigV4-signed with botocore's SigV4Auth, sent with urllib), then poll
    GET /runs/{run_id} until each run ends;
 4. check each run's status, outcome and stages against what the offline tests check (below);
 5. `cdk destroy` the stack, whatever happened (unless --keep).
Exit code 0 if every check passed, 1 otherwise (each failure printed on its own line).

Outcomes. Offline, the payment provider is an in-process fake; on AWS the payment_reversal function calls the
real https://payments.example.com, which is no payment provider: the payment cannot go through, is retried,
and the refund is escalated to a human, exactly the route the offline provider-failing example takes. So by
default the eligible example (default.json) is expected to end "escalated" on AWS; pass --payments-live when
a real provider answers at that host, and it is expected to end "refunded" as offline. window-expired.json
ends "denied" (no payment attempted) and provider-failing.json "escalated", as offline.

Cost (us-east-1 list prices, see benchmarks/aws_prices.json; one run of this script, ~10-15 minutes of stack
lifetime): Step Functions standard, 3 runs x ~40 transitions x $0.000025 = $0.003; Lambda, ~30 invocations at
256-512 MB arm64 for well under a second each: < $0.001; DynamoDB on demand, a few hundred request units:
< $0.001; API Gateway REST, ~3 POST + ~100 GET polls at $3.50 per million: < $0.001; Secrets Manager, one
secret ($0.40 a month, prorated) and a few calls: < $0.01; KMS, a few dozen signing requests: < $0.01; SQS,
SNS, SSM, X-Ray, CloudWatch Logs (a few KB): < $0.01; CloudFormation: free. Total: under $0.05 per run of
this script. What stays: the Lambda assets uploaded to the CDK bootstrap bucket (~30 MB, under $0.001 a
month); the workflow's audit signing key ($1 a month until you schedule its deletion) and the audit archive
bucket (a few KB, locked for one day), both retained by design; and, if a destroy fails, the stack itself:
the script then prints its name so it can be removed with `npx cdk destroy -c baton:stack=NAME NAME`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "refund"
SKIPPED = "e2e skipped: no AWS credentials"
WORKFLOW = "refund"
POLL_SECONDS = 2.0


def credentials_available() -> bool:
    import boto3

    return boto3.Session().get_credentials() is not None


# ---------------------------------------------------------------- what each example must do


@dataclass(frozen=True)
class Expectation:
    outcome: str
    # the agents of each stage, in stage order (a stage's concurrent agents sorted)
    stages: tuple[tuple[str, ...], ...]


REFUNDED = Expectation(
    "refunded", (("order_lookup",), ("return_policy",), ("payment_reversal",), ("customer_notifier",))
)
DENIED = Expectation("denied", (("order_lookup",), ("return_policy",), ("customer_notifier",)))
ESCALATED = Expectation(
    "escalated",
    (("order_lookup",), ("return_policy",), ("payment_reversal",), ("case_escalator", "customer_notifier")),
)


def expectations(payments_live: bool) -> dict[str, Expectation]:
    return {
        "default": REFUNDED if payments_live else ESCALATED,
        "window-expired": DENIED,
        "provider-failing": ESCALATED,
    }


def stages(steps: list[dict[str, Any]]) -> tuple[tuple[str, ...], ...]:
    by_stage: dict[int, list[str]] = {}
    for step in steps:
        by_stage.setdefault(int(step["stage"]), []).append(str(step["agent"]))
    return tuple(tuple(sorted(agents)) for _, agents in sorted(by_stage.items()))


def check_run(example: str, run: dict[str, Any], expected: Expectation) -> list[str]:
    """What differs between a run (GET /runs/{run_id}) and what the example must do; empty if nothing."""
    problems: list[str] = []
    if run.get("status") != "SUCCEEDED":
        problems.append(f"{example}: status {run.get('status')} ({run.get('reason')}), expected SUCCEEDED")
    outcome = (run.get("result") or {}).get("outcome")
    if outcome != expected.outcome:
        problems.append(f"{example}: outcome {outcome!r}, expected {expected.outcome!r}")
    actual = stages(run.get("steps") or [])
    if actual != expected.stages:
        problems.append(f"{example}: stages {actual}, expected {expected.stages}")
    if expected is ESCALATED:
        payment = next((s for s in run.get("steps") or [] if s.get("agent") == "payment_reversal"), {})
        if payment.get("status") != "failed" or int(payment.get("attempts") or 0) < 2:
            problems.append(f"{example}: payment_reversal should have failed after retries, was {payment}")
    return problems


# ---------------------------------------------------------------- the API, signed


def signed_request(
    credentials: Any, region: str, method: str, url: str, body: dict[str, Any] | None = None, **headers: str
) -> urllib.request.Request:
    """A urllib request signed with SigV4 for API Gateway (execute-api)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    data = None if body is None else json.dumps(body)
    all_headers = {"Accept": "application/json", **headers}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    request = AWSRequest(method=method, url=url, data=data, headers=all_headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return urllib.request.Request(  # noqa: S310 (an https URL from the stack's outputs)
        url, data=None if data is None else data.encode(), headers=dict(request.headers.items()), method=method
    )


def call(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (https, see signed_request)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def run_example(session: Any, api_url: str, example: str, stack: str, timeout: float) -> dict[str, Any]:
    credentials = session.get_credentials().get_frozen_credentials()
    region = session.region_name
    run_input = json.loads((EXAMPLES / f"{example}.json").read_text())
    status, started = call(
        signed_request(
            credentials,
            region,
            "POST",
            f"{api_url}workflows/{WORKFLOW}/runs",
            {"input": run_input},
            **{"Idempotency-Key": f"{stack}.{example}"},
        )
    )
    if status != 202:
        raise RuntimeError(f"{example}: POST answered {status}: {started}")
    run_id = started["run_id"]
    deadline = time.monotonic() + timeout
    while True:
        credentials = session.get_credentials().get_frozen_credentials()  # refreshed if they rotate
        status, run = call(signed_request(credentials, region, "GET", f"{api_url}runs/{run_id}"))
        if status != 200:
            raise RuntimeError(f"{example}: GET /runs/{run_id} answered {status}: {run}")
        if run.get("status") != "RUNNING":
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"{example}: run {run_id} still RUNNING after {timeout:g} s")
        time.sleep(POLL_SECONDS)


# ---------------------------------------------------------------- the stack


def cdk(*args: str, env: dict[str, str]) -> None:
    local = ROOT / "node_modules" / ".bin" / "cdk"
    command = [str(local)] if local.exists() else ["npx", "--no-install", "cdk"]
    print("$ cdk " + " ".join(args), flush=True)
    subprocess.run([*command, *args], cwd=ROOT, env=env, check=True)  # noqa: S603 (fixed commands)


def deploy(stack: str, env: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        outputs_file = Path(scratch) / "outputs.json"
        cdk(
            "deploy",
            stack,
            "--require-approval",
            "never",
            "--no-notices",
            "--outputs-file",
            str(outputs_file),
            *context(stack),
            env=env,
        )
        outputs: dict[str, str] = json.loads(outputs_file.read_text())[stack]
    return outputs


def destroy(stack: str, env: dict[str, str]) -> bool:
    try:
        cdk("destroy", stack, "--force", "--no-notices", *context(stack), env=env)
    except subprocess.CalledProcessError:
        print(f"e2e: destroying {stack} failed: remove it with `npx cdk destroy -c baton:stack={stack} {stack}`")
        return False
    return True


def context(stack: str) -> list[str]:
    return ["-c", f"baton:stack={stack}", "-c", "baton:retain=false", "-c", "baton:audit-retention-days=1"]


def bootstrapped(session: Any) -> bool:
    try:
        session.client("ssm").get_parameter(Name="/cdk-bootstrap/hnb659fds/version")
    except Exception:  # ParameterNotFound, or no permission to look: cdk deploy will say which
        return False
    return True


class AwsDeployment:
    """The deployed stack, as an offline fixture sees a deployment (baton.local.deployment.OfflineDeployment)."""

    def __init__(self, session: Any, physical_ids: dict[str, str]) -> None:
        from baton.aws import AwsClients
        from baton.local.http import LocalHttpTransport

        self.clients = AwsClients(session)
        self.physical_ids = physical_ids
        # the fixture also registers its fake payment provider here: nothing on AWS ever reaches it
        self.http = LocalHttpTransport()

    def secret_value(self, name: str) -> str:
        del name  # only the (unreached) fake provider would use it: the real secret is never read
        return "unused-" + secrets.token_hex(16)


def physical_ids(session: Any, stack: str) -> dict[str, str]:
    """The catalog resources' physical ids, as the stack's agent functions receive them (BATON_RESOURCES)."""
    resources = session.client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack)
    functions = [
        r["PhysicalResourceId"]
        for page in resources
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    found: dict[str, str] = {}
    lambda_client = session.client("lambda")
    for function in functions:
        variables = lambda_client.get_function_configuration(FunctionName=function).get("Environment", {})
        found |= json.loads(variables.get("Variables", {}).get("BATON_RESOURCES", "{}"))
    return found


def seed(session: Any, stack: str) -> None:
    from refund_app.offline import prepare

    prepare(AwsDeployment(session, physical_ids(session, stack)))


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", help="stack name (default: a new unique one)")
    parser.add_argument("--keep", action="store_true", help="do not destroy the stack at the end")
    parser.add_argument("--payments-live", action="store_true", help="a real provider answers at payments.example.com")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each run (default 300)")
    args = parser.parse_args(argv)
    if not credentials_available():
        print(SKIPPED)
        return 0
    import boto3

    session = boto3.Session()
    if not session.region_name:
        print("e2e: no AWS region: set AWS_REGION (or a region in the profile)")
        return 1
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except Exception as error:  # expired or revoked credentials, no network: say so, in one line
        print(f"e2e: the AWS credentials do not work: {type(error).__name__}: {error}")
        return 1
    if not bootstrapped(session):
        print(f"e2e: {account}/{session.region_name} is not CDK-bootstrapped: npx cdk bootstrap aws://{account}/REGION")
        return 1
    stack = args.stack or f"BatonE2e{datetime.now(UTC):%Y%m%d%H%M%S}{secrets.token_hex(2)}"
    env = {
        **os.environ,
        "AWS_REGION": session.region_name,
        "AWS_DEFAULT_REGION": session.region_name,
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    print(f"e2e: account {account}, region {session.region_name}, stack {stack}", flush=True)
    problems: list[str] = []
    try:
        outputs = deploy(stack, env)
        seed(session, stack)
        for example, expected in expectations(args.payments_live).items():
            run = run_example(session, outputs["ApiUrl"], example, stack, args.timeout)
            found = check_run(example, run, expected)
            print(f"e2e: {example}: {run.get('status')} {(run.get('result') or {}).get('outcome')}", flush=True)
            problems += found
    except Exception as error:  # report it, then tear the stack down all the same
        problems.append(f"{type(error).__name__}: {error}")
    finally:
        if args.keep:
            print(f"e2e: kept stack {stack}")
        elif not destroy(stack, env):
            problems.append(f"stack {stack} was not destroyed")
    for problem in problems:
        print(f"e2e: FAILED {problem}")
    if not problems:
        print("e2e: passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
