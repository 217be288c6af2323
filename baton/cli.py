"""`baton`: run workflows offline and verify audit trails.

  baton run WORKFLOW --input FILE [--json] [--out FILE]
  baton audit verify FILE

Bad input is a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NoReturn

from pydantic import ValidationError

from baton.audit import ChainBroken, verify_chain
from baton.models import RunStatus, TaskOutcome, TaskStatus, invalid_fields
from baton.observability import logs_to
from baton.runs import InvalidRunInput, RunRecord

LOG_DIR = Path(".baton") / "logs"


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baton", description="Security-first orchestration of AI agents on AWS.")
    parser.add_argument("--catalog", help="the catalog's dotted path (default: [tool.baton] in pyproject.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a workflow offline, on the embedded moto backend")
    run.add_argument("workflow", help="workflow name, e.g. refund")
    run.add_argument("--input", required=True, type=Path, help="JSON file with the workflow's input")
    run.add_argument("--json", action="store_true", help="print one JSON document instead of the timeline")
    run.add_argument("--out", type=Path, help="write the whole run record (with its audit trail) to this file")
    run.add_argument("--timeout", type=float, default=300, help="seconds to wait for the run (default 300)")
    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="verify the hash chain of a run record written by --out")
    verify.add_argument("file", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        return _verify(args.file)
    except UsageError as error:
        _fail(str(error))


def _fail(message: str) -> NoReturn:
    print(f"baton: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"input file {str(path)!r} does not exist") from None
    except OSError as error:
        raise UsageError(f"cannot read {str(path)!r}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{str(path)!r} is not valid JSON: {error.msg} at line {error.lineno}") from None


# ---------------------------------------------------------------- baton run


def _run(args: argparse.Namespace) -> int:
    run_input = _read_json(args.input)
    from baton.catalog import CatalogError
    from baton.config import ConfigError, app_config, load_app

    try:  # the catalog imports every workflow's models: only when needed
        app = load_app(app_config(args.catalog))
    except (ConfigError, CatalogError) as error:
        raise UsageError(str(error)) from None
    CATALOG = app.catalog
    if args.workflow not in CATALOG.workflows:
        raise UsageError(f"unknown workflow {args.workflow!r}; known: {', '.join(sorted(CATALOG.workflows))}")
    try:  # refuse bad input before starting anything
        CATALOG.workflows[args.workflow].input_model.model_validate(run_input)
    except ValidationError as error:
        raise UsageError(f"{str(args.input)!r} is not a valid {args.workflow} input: {invalid_fields(error)}") from None
    from baton.local.engine import LocalEngine  # moto is heavy: keep `baton audit` fast

    out = sys.stdout
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"run-{datetime.now():%Y%m%dT%H%M%S}.jsonl"
    started = time.perf_counter()
    with log_path.open("w") as log_file, logs_to(log_file), LocalEngine(app.config) as engine:
        try:
            run_id = engine.start(args.workflow, run_input)
        except InvalidRunInput as error:
            raise UsageError(str(error)) from None
        if not args.json:
            print(f"run {run_id}  workflow {args.workflow}", file=out)
        record = engine.wait(
            run_id,
            timeout_seconds=args.timeout,
            on_step=None if args.json else lambda step: _print_progress(step, out),
        )
    elapsed = time.perf_counter() - started
    if args.out is not None:
        args.out.write_text(json.dumps(record.model_dump(mode="json"), indent=2) + "\n")
    if args.json:
        print(json.dumps(_summary(record), indent=2), file=out)
    else:
        _print_timeline(record, elapsed, log_path, args.out, out)
    return 0 if record.status is RunStatus.SUCCEEDED else 1


def _steps(record: RunRecord) -> list[TaskOutcome]:
    return sorted(record.steps, key=lambda s: (s.started_at, s.stage, s.index))


def _summary(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "workflow": record.workflow,
        "status": record.status.value,
        "result": record.result,
        "reason": record.reason,
        "steps": [
            {
                "agent": s.agent,
                "status": s.status.value,
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "stage": s.stage,
                "key": s.key,
                "attempts": s.attempts,
                "error": s.error,
            }
            for s in _steps(record)
        ],
        "audit_head": record.audit_head,
    }


def _duration_ms(step: TaskOutcome) -> float:
    return (datetime.fromisoformat(step.ended_at) - datetime.fromisoformat(step.started_at)).total_seconds() * 1000


def _print_progress(step: TaskOutcome, out: IO[str]) -> None:
    mark = "ok " if step.status is TaskStatus.SUCCEEDED else "ERR"
    retried = f"  ({step.attempts} attempts)" if step.attempts > 1 else ""
    print(f"  [{mark}] stage {step.stage}  {step.agent}{retried}", file=out)


def _print_timeline(record: RunRecord, elapsed: float, log_path: Path, out_path: Path | None, out: IO[str]) -> None:
    print("\ntimeline", file=out)
    print(f"  {'stage':<6}{'agent':<20}{'duration':>10}  {'attempts':<9}outcome", file=out)
    for step in _steps(record):
        outcome = step.status.value if step.error is None else f"{step.status.value}: {step.error}"
        print(
            f"  {step.stage:<6}{step.agent:<20}{_duration_ms(step):>8.0f}ms  {step.attempts:<9}{outcome}",
            file=out,
        )
    print(f"\n{record.status.value} in {elapsed:.2f} s", file=out)
    if record.result is not None:
        print("result " + json.dumps(record.result, indent=2), file=out)
    if record.reason:
        print(f"reason {record.reason}", file=out)
    print(f"audit  {len(record.audit)} records, head {record.audit_head[:16]}", file=out)
    print(f"logs   {log_path}", file=out)
    if out_path is not None:
        print(f"record {out_path}  (check it with: baton audit verify {out_path})", file=out)


# ---------------------------------------------------------------- baton audit verify


def _verify(path: Path) -> int:
    record = _read_json(path)
    audit = record.get("audit") if isinstance(record, dict) else None
    if not isinstance(audit, list) or not all(isinstance(entry, dict) for entry in audit):
        raise UsageError(f"{str(path)!r} is not a run record (no 'audit' list of records)")
    try:
        length = verify_chain(audit, expected_head=record.get("audit_head"))
    except ChainBroken as broken:
        print(f"audit chain BROKEN at record {broken.seq}: {broken.reason}")
        return 1
    print(f"audit chain intact: {length} records, head {record.get('audit_head', '')[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
