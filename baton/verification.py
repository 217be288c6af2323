"""`baton audit verify`: check a run's audit trail against its workflow's signing key.

  baton audit verify FILE --public-key KEY.pem [--allow-running]
  baton audit verify --stack NAME RUN_ID [--region REGION]

A file is what `baton run --out` writes (or any run record exported from a deployment). The public key
comes from a file you trust (`baton run` writes the offline key's next to the record; on AWS, `aws kms
get-public-key`), never from the record itself. With `--stack`, the run is read straight from the
deployed state table and each signature is checked by KMS with the workflow's key from the stack.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from baton import keys
from baton.audit import SignatureCheck, Verification, public_key_check, verify_run
from baton.iam import pascal
from baton.signing import SIGNING_ALGORITHM


@dataclass(frozen=True)
class StackRun:
    record: dict[str, Any]
    running: bool  # its execution has not ended yet


def verify_record(record: dict[str, Any], public_key_pem: bytes, allow_running: bool = False) -> Verification:
    return verify_run(record, public_key_check(public_key_pem), allow_running)


def kms_check(kms_client: Any, key_id: str) -> SignatureCheck:
    """A signature check done by KMS itself (no key material leaves KMS, no local cryptography needed)."""

    def check(message: bytes, signature_b64: str) -> bool:
        try:
            response = kms_client.verify(
                KeyId=key_id,
                Message=message,
                MessageType="RAW",
                Signature=base64.b64decode(signature_b64, validate=True),
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except Exception:  # KMSInvalidSignatureException, a malformed signature: not verified
            return False
        return bool(response.get("SignatureValid"))

    return check


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def output_name(kind: str, workflow: str) -> str:
    """The stack output naming a workflow's resource (see baton.infra.stacks.baton_stack)."""
    return kind + pascal(workflow)


def verify_stack_run(clients: Any, stack: str, run_id: str) -> Verification:
    """Verify a deployed run from the stack's state table, with KMS checking each signature."""
    from baton.runs import read_run
    from baton.state import DynamoStateStore

    workflow = keys.workflow_of(run_id)
    outputs = stack_outputs(clients.client("cloudformation"), stack)
    table, key = outputs.get("StateTableName"), outputs.get(output_name("AuditKey", workflow))
    machine = outputs.get(output_name("StateMachine", workflow))
    if table is None or key is None or machine is None:
        raise LookupError(f"stack {stack!r} has no state table, audit key or state machine for {workflow!r}")
    record = read_run(DynamoStateStore(clients.client("dynamodb"), table), run_id).model_dump(mode="json")
    execution = machine.replace(":stateMachine:", ":execution:") + f":{run_id}"
    status = clients.client("stepfunctions").describe_execution(executionArn=execution)["status"]
    return verify_run(record, kms_check(clients.client("kms"), key), allow_running=status == "RUNNING")


def report_lines(verification: Verification) -> list[str]:
    if verification.ok:
        state = "final" if verification.final else "still running"
        return [
            f"audit trail verified: {verification.records} records, {verification.signed_heads} signed heads ({state})"
        ]
    return [f"audit trail NOT verified: {problem}" for problem in verification.problems]
