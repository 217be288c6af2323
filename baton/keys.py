"""The state table's key schema, in one place: the state store builds keys with it, and baton.iam derives
every `dynamodb:LeadingKeys` condition from it.

A run id starts with its workflow's name and "_" (never part of a workflow name), so every item of a run
lives under partition keys that begin with "<KIND>#<workflow>_": IAM can then scope each workflow's
orchestrator and state machine, and the API, to their own workflows' items.

  RUN#<run_id>          META | CTX#<key> | STEP#<stage>#<index> | LATEST#<key> | AUDIT#<seq>   the orchestrator's
                        | CALLS#<tool>   (the run's successful calls of a state-changing tool, for policies)
  TASK#<run_id>         <stage>#<index>                                     orchestrator writes, state machine reads
  JOURNAL#<run_id>      <stage>#<index>#<attempt>#<entry|crash>             state machine writes (conditional)
  START#<run_id>        REQUEST                                             the API writes (conditional)
  IDEMPOTENCY#<workflow>#<caller>#<key>   KEY                               the API writes (conditional)
  APPROVAL#<run_id>     <approval_id> | TOKEN       orchestrator writes; the API decides a pending one (conditional)
                                                    and reads the task token to resume the run

An Express workflow's running run also carries `open_workflow` and `open_deadline` on its META item, a sparse
index (OPEN_RUNS_INDEX) the orchestrator's sweep reads: Express executions emit no status-change events, so a
run whose execution timed out is found by its deadline instead.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

RUN_ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}_[A-Za-z0-9-]{1,39}$"  # at most 80: an execution name
_RUN_ID = re.compile(RUN_ID_PATTERN)

META = "META"
REQUEST = "REQUEST"
IDEMPOTENCY_SK = "KEY"
CTX_PREFIX = "CTX#"
# where the archiver writes audit records in the archive bucket: audit/<workflow>/<run_id>/<seqs>.json
AUDIT_ARCHIVE_PREFIX = "audit/"
LATEST_PREFIX = "LATEST#"
OPEN_RUNS_INDEX = "open-runs"
OPEN_WORKFLOW = "open_workflow"
OPEN_DEADLINE = "open_deadline"
STEP_PREFIX = "STEP#"
AUDIT_PREFIX = "AUDIT#"
CALLS_PREFIX = "CALLS#"
# the sort key of a run's task token item (approval ids never take this form: see baton.approvals)
TOKEN_SK = "TOKEN"  # noqa: S105 (a sort key, not a password)


class InvalidRunId(ValueError):
    pass


def new_run_id(workflow: str) -> str:
    """Sortable by start time within a workflow, unguessable, a valid Step Functions execution name."""
    return f"{workflow}_{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"


def derived_run_id(workflow: str, source: str) -> str:
    """A run id fixed by what caused the run (an event id, a parent's task): a repeat maps to the same run."""
    return f"{workflow}_d-{hashlib.sha256(source.encode()).hexdigest()[:32]}"


def workflow_of(run_id: str) -> str:
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidRunId(f"{run_id!r} is not a run id")
    return run_id.split("_", 1)[0]


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def task_pk(run_id: str) -> str:
    return f"TASK#{run_id}"


def journal_pk(run_id: str) -> str:
    return f"JOURNAL#{run_id}"


def start_pk(run_id: str) -> str:
    return f"START#{run_id}"


def approval_pk(run_id: str) -> str:
    return f"APPROVAL#{run_id}"


def calls_sk(tool: str) -> str:
    """The run's successful calls of one state-changing tool (what tool-call policies count)."""
    return f"{CALLS_PREFIX}{tool}"


def idempotency_pk(workflow: str, caller: str, key: str) -> str:
    """Scoped per caller: a key another principal used never answers with their run."""
    scope = hashlib.sha256(caller.encode()).hexdigest()[:24]
    return f"IDEMPOTENCY#{workflow}#{scope}#{key}"


def task_sk(stage: int, index: int) -> str:
    return f"{stage}#{index}"


def stage_prefix(stage: int) -> str:
    return f"{stage}#"


def step_sk(stage: int, index: int) -> str:
    return f"{STEP_PREFIX}{stage:04d}#{index:05d}"


def audit_sk(seq: int) -> str:
    return f"{AUDIT_PREFIX}{seq:08d}"


def ctx_sk(key: str) -> str:
    return f"{CTX_PREFIX}{key}"


def latest_sk(key: str) -> str:
    """The latest outcome of the task whose output key is `key` (a copy of its newest STEP# item)."""
    return f"{LATEST_PREFIX}{key}"


# ---------------------------------------------------------------- IAM: dynamodb:LeadingKeys patterns


def run_items(workflow: str) -> str:
    return f"RUN#{workflow}_*"


def task_items(workflow: str) -> str:
    return f"TASK#{workflow}_*"


def journal_items(workflow: str) -> str:
    return f"JOURNAL#{workflow}_*"


def start_items(workflow: str) -> str:
    return f"START#{workflow}_*"


def idempotency_items(workflow: str) -> str:
    return f"IDEMPOTENCY#{workflow}#*"


def approval_items(workflow: str) -> str:
    return f"APPROVAL#{workflow}_*"
