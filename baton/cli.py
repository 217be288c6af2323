"""`baton`: start an app, look at it, check it, run its workflows offline, verify what a run recorded.

  baton init DIR                          a new app that runs, tests and synthesizes at once
  baton workflows [--json]                each workflow, its agents, their tools (side effect, output trust)
  baton validate                          every problem of the catalog (exit 2 if any)
  baton graph WORKFLOW                    the workflow as a Mermaid flowchart
  baton run WORKFLOW --input FILE|- [--json] [--out FILE] [--timeout SECONDS]
  baton audit verify FILE                 check the audit trail of a run record written by --out
  baton --version

The app is found as baton.config describes (--catalog, BATON_CATALOG, [tool.baton] in the nearest
pyproject.toml). Bad input is one line on standard error and exit code 2, never a traceback; `baton run`
checks everything it can before a run starts, so a run never fails half-way on bad input.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from baton import __version__

if TYPE_CHECKING:
    from baton.catalog import Catalog, WorkflowSpec
    from baton.config import LoadedApp
    from baton.models import TaskOutcome
    from baton.runs import RunRecord

LOG_DIR = Path(".baton") / "logs"


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text[:40]!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="baton", description="Security-first orchestration of AI agents on AWS.")
    parser.add_argument("--version", action="version", version=f"baton {__version__}")
    parser.add_argument("--catalog", help="the catalog's dotted path (default: [tool.baton] in pyproject.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create a new app in DIR (empty or new): it runs, tests and synthesizes")
    init.add_argument("directory", metavar="DIR", type=Path, help="where to create it; its name is the package name")

    workflows = commands.add_parser("workflows", help="list each workflow, its agents and their tools")
    workflows.add_argument("--json", action="store_true", help="print one JSON document")

    commands.add_parser("validate", help="check the catalog, its code paths and its agents' models; exit 2 if wrong")

    graph = commands.add_parser("graph", help="print a workflow as a Mermaid flowchart")
    graph.add_argument("workflow", help="workflow name, e.g. refund")

    run = commands.add_parser("run", help="run a workflow offline, on the embedded moto backend")
    run.add_argument("workflow", help="workflow name, e.g. refund")
    run.add_argument("--input", required=True, type=Path, help="JSON file with the workflow's input ('-': stdin)")
    run.add_argument("--json", action="store_true", help="print one JSON document instead of the timeline")
    run.add_argument("--out", type=Path, help="write the whole run record (with its audit trail) to this file")
    run.add_argument("--timeout", type=_seconds, default=300.0, help="seconds to wait for the run (default 300)")

    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = audit_commands.add_parser(
        "verify",
        help="verify a run's audit trail against its workflow's signing key",
        description="verify FILE --public-key KEY.pem: a run record written by `baton run --out` (or exported); "
        "verify --stack NAME RUN_ID: a deployed run, read from the stack's state table, signatures checked by KMS",
    )
    verify.add_argument("file", type=Path, nargs="?", help="a run record (JSON)")
    verify.add_argument(
        "--public-key", type=Path, help="the workflow's audit public key (PEM), from a source you trust"
    )
    verify.add_argument("--stack", nargs=2, metavar=("NAME", "RUN_ID"), help="verify a deployed run instead")
    verify.add_argument("--allow-running", action="store_true", help="accept a run that has not finished yet")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "init": _init,
        "workflows": _workflows,
        "validate": _validate,
        "graph": _graph,
        "run": _run,
        "audit": _verify,
    }
    try:
        return commands[args.command](args)
    except UsageError as error:
        _fail(str(error))


def _fail(message: str) -> NoReturn:
    print(f"baton: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(2)


def _name(path: Path) -> str:
    return "standard input" if str(path) == "-" else repr(str(path))


def _read_json(path: Path) -> Any:
    """JSON from a file or, for '-', standard input: UTF-8 (a BOM is fine), within Python's nesting limit."""
    name = _name(path)
    try:
        if str(path) == "-":
            if sys.stdin is None:
                raise UsageError("there is no standard input to read")
            data = sys.stdin.buffer.read()
        else:
            data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"input file {name} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{name} is a folder, not a JSON file") from None
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(f"{name} is not UTF-8 text (invalid byte at offset {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{name} is not valid JSON: {error.msg} at line {error.lineno}") from None
    except RecursionError:
        raise UsageError(f"{name} is nested too deeply to read as JSON") from None
    except ValueError:  # an integer beyond Python's digit limit
        raise UsageError(f"{name} is not JSON Baton accepts (a number is too large)") from None


def _load_app(explicit: str | None) -> LoadedApp:
    from baton.catalog import CatalogError
    from baton.config import ConfigError, app_config, load_app
    from baton.validate import describe_exception

    try:  # the catalog imports every workflow's models: only when needed
        return load_app(app_config(explicit))
    except (ConfigError, CatalogError) as error:
        raise UsageError(str(error)) from None
    except Exception as error:  # the app's own modules failed to import: say where, in one line
        raise UsageError(f"cannot load the catalog: {describe_exception(error)}") from None


def _workflow(catalog: Catalog, name: str) -> WorkflowSpec:
    workflow = catalog.workflows.get(name)
    if workflow is None:
        raise UsageError(f"unknown workflow {name!r}; known: {', '.join(sorted(catalog.workflows))}")
    return workflow


# ---------------------------------------------------------------- baton init


def _init(args: argparse.Namespace) -> int:
    from baton.scaffold import ScaffoldError, create_app

    try:
        app = create_app(args.directory)
    except ScaffoldError as error:
        raise UsageError(str(error)) from None
    shown = args.directory
    print(f"created {app.package} in {shown}/: workflow {app.workflow!r} (2 agents, 1 tool, offline seed data)")
    for path in app.files:
        print(f"  {path.relative_to(app.root)}")
    print(
        f"\nnext:\n  cd {shown}\n  baton run {app.workflow} --input examples/default.json\n"
        "  python -m pytest\n  npx aws-cdk@2 synth    (or: make run, make test, make synth)"
    )
    return 0


# ---------------------------------------------------------------- baton workflows


def workflows_document(catalog: Catalog) -> dict[str, Any]:
    """What `baton workflows --json` prints."""
    return {
        "workflows": [
            {
                "name": workflow.name,
                "description": workflow.description,
                "execution": workflow.execution,
                "planner": workflow.planner,
                "planner_model": None if workflow.planner_model is None else workflow.planner_model.model_id,
                "budgets": workflow.budgets.model_dump(),
                "input_model": workflow.input_model.__name__,
                "input_fields": list(workflow.input_model.model_fields),
                "trusted_input_keys": list(workflow.trusted_input_keys),
                "agents": [
                    {
                        "name": agent.name,
                        "description": agent.description,
                        "model": None if agent.model is None else agent.model.model_id,
                        "context_keys": list(agent.context_keys),
                        "tools": [
                            {
                                "name": tool.name,
                                "description": tool.description,
                                "side_effect": tool.side_effect.value,
                                "output_trusted": tool.output_trusted,
                            }
                            for tool in catalog.tools_of(agent)
                        ],
                    }
                    for agent in (catalog.agent(name) for name in workflow.agents)
                ],
            }
            for workflow in sorted(catalog.workflows.values(), key=lambda w: w.name)
        ]
    }


def _workflows(args: argparse.Namespace) -> int:
    document = workflows_document(_load_app(args.catalog).catalog)
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    for number, workflow in enumerate(document["workflows"]):
        if number:
            print()
        trusted = set(workflow["trusted_input_keys"])
        fields = ", ".join(f"{f} (trusted)" if f in trusted else f for f in workflow["input_fields"])
        print(f"{workflow['name']}  ({workflow['execution']} execution)  {workflow['description']}")
        print(f"  input    {workflow['input_model']}: {fields}")
        model = f"  (model {workflow['planner_model']})" if workflow["planner_model"] else ""
        print(f"  planner  {workflow['planner']}{model}")
        budgets = workflow["budgets"]
        if workflow["planner_model"] or any(agent["model"] for agent in workflow["agents"]):
            print(
                f"  budgets  {budgets['max_model_calls']} model calls, {budgets['max_input_tokens']:,} input and "
                f"{budgets['max_output_tokens']:,} output tokens per run"
            )
        tools = [tool for agent in workflow["agents"] for tool in agent["tools"]]
        width = max((len(tool["name"]) for tool in tools), default=0)
        for agent in workflow["agents"]:
            model = f"  (model {agent['model']})" if agent["model"] else ""
            print(f"  agent {agent['name']}: {agent['description']}{model}")
            if not agent["tools"]:
                print("    no tools (pure logic)")
            for tool in agent["tools"]:
                trust = "trusted output" if tool["output_trusted"] else "untrusted output"
                columns = f"{tool['name']:<{width}}  {tool['side_effect']:<12}  {trust:<16}"
                print(f"    tool {columns}  {tool['description']}")
    return 0


# ---------------------------------------------------------------- baton validate


def _validate(args: argparse.Namespace) -> int:
    from baton.catalog import CatalogError
    from baton.config import ConfigError, app_config, load_app
    from baton.validate import ERROR, Finding, catalog_problems, describe_exception, validate

    try:
        config = app_config(args.catalog)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    counts = ""
    try:
        catalog = load_app(config).catalog
    except CatalogError as error:
        findings = [Finding(ERROR, problem) for problem in catalog_problems(error)]
    except Exception as error:  # the app's own modules failed to import
        findings = [Finding(ERROR, f"cannot load the catalog: {describe_exception(error)}")]
    else:
        findings = validate(catalog)
        counts = ", ".join(
            _count(len(specs), label)
            for specs, label in (
                (catalog.workflows, "workflow"),
                (catalog.agents, "agent"),
                (catalog.tools, "tool"),
                (catalog.resources, "resource"),
            )
        )
    for finding in findings:
        print(finding)
    errors = sum(1 for finding in findings if finding.level == ERROR)
    if errors:
        print(f"baton validate: {_count(errors, 'problem')} in {config.env_value}")
        return 2
    print(f"baton validate: {config.env_value} is valid: {counts}; {_count(len(findings), 'note')}")
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# ---------------------------------------------------------------- baton graph


def _graph(args: argparse.Namespace) -> int:
    from baton.graph import GraphError, mermaid

    try:
        sys.stdout.write(mermaid(_load_app(args.catalog).catalog, args.workflow))
    except GraphError as error:
        raise UsageError(str(error)) from None
    return 0


# ---------------------------------------------------------------- baton run


def _check_writable(path: Path) -> None:
    """Refuse an --out the record could not be written to, before the run (not after its refund)."""
    name = repr(str(path))
    if path.is_dir():
        raise UsageError(f"--out {name} is a folder; name a file")
    parent = path.parent
    if not parent.exists():
        raise UsageError(f"--out {name}: folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise UsageError(f"--out {name}: {str(parent)!r} is not a folder")
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as error:
        raise UsageError(f"--out {name} is not writable: {error.strerror}") from None
    if not existed:
        path.unlink(missing_ok=True)


def _check_run(args: argparse.Namespace) -> tuple[LoadedApp, Any]:
    """Everything `baton run` can check before a run starts: it returns the app and the run's input."""
    from baton.validate import check_paths, describe_validation_error

    if args.out is not None:
        _check_writable(args.out)
    run_input = _read_json(args.input)
    app = _load_app(args.catalog)
    workflow = _workflow(app.catalog, args.workflow)
    try:
        workflow.input_model.model_validate(run_input)
    except ValidationError as error:
        what = f"{_name(args.input)} is not a valid {workflow.name} input"
        raise UsageError(f"{what}: {describe_validation_error(error)}") from None
    # the offline deployment imports every planner, agent and tool of the catalog: a typo must not surface
    # as a crash of the deployment
    problems = check_paths(app.catalog)
    if problems:
        more = f" (and {len(problems) - 1} more: see baton validate)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0].message}{more}")
    return app, run_input


def _open_log() -> tuple[Path, IO[str]]:
    """The run's log file, under a temporary name until the run has an id."""
    pending = LOG_DIR / f".pending-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
    try:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        return pending, pending.open("w", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write the run's log under {str(LOG_DIR)!r}: {error.strerror}") from None


_frozen_at_exit = False


@contextmanager
def _collection_for_a_run() -> Iterator[Callable[[], None]]:
    """Cyclic garbage collection tuned for `baton run`, a short-lived process.

    Loading the app, importing moto and provisioning the deployment make ~320,000 objects that live as long as
    the process, and next to no cyclic garbage: collecting while they are made cost ~0.1 s, and walking them
    again at interpreter exit ~0.4 s (measured on `baton run refund`, ~1.0 s in all with both avoided). So
    collection is off until the deployment is up (call the function this yields then), everything alive at that
    point is frozen (later collections skip it: gc.freeze) and collection resumes for the run itself, however
    long it is. On the way out everything is unfrozen (a caller that goes on, such as a test calling main(),
    keeps ordinary collection); at interpreter exit everything is frozen again, so the final collection does
    not walk it.
    """
    global _frozen_at_exit  # noqa: PLW0603 (one registration per process)
    if not _frozen_at_exit:
        atexit.register(gc.freeze)
        _frozen_at_exit = True
    enabled = gc.isenabled()
    gc.disable()

    def deployed() -> None:
        gc.freeze()
        if enabled:
            gc.enable()

    try:
        yield deployed
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    with _collection_for_a_run() as deployed:
        return _run_workflow(args, deployed)


def _run_workflow(args: argparse.Namespace, deployed: Callable[[], None]) -> int:
    app, run_input = _check_run(args)
    try:
        from baton.local.engine import LocalEngine  # moto is heavy: only `baton run` imports it
    except ModuleNotFoundError as error:
        raise UsageError(
            f"baton run needs the offline extra ({error.name} is missing): pip install 'baton[offline]'"
        ) from None
    from baton.observability import logs_to
    from baton.runs import InvalidRunInput
    from baton.validate import describe_exception

    out = sys.stdout  # logs_to redirects sys.stdout to the log while the run's functions run
    pending, log_file = _open_log()
    log_path: Path | None = None
    started = time.perf_counter()
    try:
        with ExitStack() as stack:
            stack.enter_context(log_file)
            stack.enter_context(logs_to(log_file))
            try:
                engine = stack.enter_context(LocalEngine(app.config))
            except Exception as error:  # an offline fixture of the app failed: nothing has run yet
                raise UsageError(f"cannot set up the offline deployment: {describe_exception(error)}") from None
            deployed()
            try:
                run_id = engine.start(args.workflow, run_input)
            except InvalidRunInput as error:
                raise UsageError(str(error)) from None
            log_path = LOG_DIR / f"{run_id}.jsonl"
            pending.replace(log_path)  # the open file keeps receiving the run's lines under its new name
            if not args.json:
                print(f"run {run_id}  workflow {args.workflow}  log {log_path}", file=out)
            try:
                record = engine.wait(
                    run_id,
                    timeout_seconds=args.timeout,
                    on_step=None if args.json else lambda step: _print_progress(step, out),
                )
                public_key = engine.public_key(args.workflow)
            except TimeoutError:
                ended = f"baton: run {run_id} did not end within {args.timeout:g} s; its log: {log_path}"
                print(ended, file=sys.stderr)
                return 1
    finally:
        if log_path is None:
            pending.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    if args.out is not None:
        try:
            args.out.write_text(json.dumps(record.model_dump(mode="json"), indent=2) + "\n")
            _key_file(args.out).write_bytes(public_key)
        except OSError as error:
            print(f"baton: cannot write {str(args.out)!r}: {error.strerror}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(_summary(record, log_path), indent=2), file=out)
    else:
        _print_timeline(record, elapsed, log_path, args.out, out)
    return 0 if record.status.value == "SUCCEEDED" else 1


def _steps(record: RunRecord) -> list[TaskOutcome]:
    return sorted(record.steps, key=lambda s: (s.started_at, s.stage, s.index))


def _refused_answers(record: RunRecord) -> list[dict[str, Any]]:
    """The model planner's answers Baton refused (audited denials), each with the step it was choosing."""
    refused = []
    for entry in record.audit:
        detail = entry.get("detail")
        if entry.get("kind") == "denial" and entry.get("actor") == "planner" and isinstance(detail, dict):
            stage = detail.get("stage")
            refused.append(
                {
                    "choosing_stage": stage + 1 if isinstance(stage, int) else None,
                    "answer": detail.get("answer"),
                    "reason": _printable(str(detail.get("reason", ""))),
                }
            )
    return refused


def _summary(record: RunRecord, log_path: Path) -> dict[str, Any]:
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
                "reason": _printable(s.reason),
                "model_usage": s.model_usage.model_dump(),
            }
            for s in _steps(record)
        ],
        "refused_planner_answers": _refused_answers(record),
        "model_usage": record.model_usage.model_dump(),
        "model_usage_by_model": {m: u.model_dump() for m, u in sorted(record.model_usage_by_model.items())},
        "estimated_cost": None if record.model_cost is None else record.model_cost.model_dump(),
        "audit_head": record.audit_head,
        "log_file": str(log_path.resolve()),
    }


def _printable(text: str) -> str:
    """Text from a model or a run, made safe to print: no control characters (no terminal escapes), one line."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _model_line(record: RunRecord) -> str | None:
    """`3 calls, 1,200 input + 300 output tokens, estimated $0.0021 (prices of 2025-06-01)`, or None."""
    usage = record.model_usage
    if not usage.calls:
        return None
    line = f"{_count(usage.calls, 'call')}, {usage.input_tokens:,} input + {usage.output_tokens:,} output tokens"
    cost = record.model_cost
    if cost is not None:
        if cost.prices_as_of is not None:
            line += f", estimated ${cost.usd:.4f} (prices of {cost.prices_as_of})"
        if cost.unpriced:
            line += f"; no price for {', '.join(cost.unpriced)}"
    return line


def _duration_ms(step: TaskOutcome) -> float:
    return (datetime.fromisoformat(step.ended_at) - datetime.fromisoformat(step.started_at)).total_seconds() * 1000


def _print_progress(step: TaskOutcome, out: IO[str]) -> None:
    mark = "ok " if step.status.value == "succeeded" else "ERR"
    retried = f"  ({step.attempts} attempts)" if step.attempts > 1 else ""
    print(f"  [{mark}] stage {step.stage}  {step.agent}{retried}", file=out)


def _print_timeline(record: RunRecord, elapsed: float, log_path: Path, out_path: Path | None, out: IO[str]) -> None:
    print("\ntimeline", file=out)
    print(f"  {'stage':<6}{'agent':<20}{'duration':>10}  {'attempts':<9}outcome", file=out)
    refused = _refused_answers(record)
    shown: set[int] = set()

    def print_refused(stage: int) -> None:  # the planner's refused answers, before the step they were choosing
        if stage in shown:
            return
        shown.add(stage)
        for answer in (r for r in refused if r["choosing_stage"] == stage):
            print(
                f"  {stage:<6}{'(planner)':<20}{'':>10}  {'':<9}refused answer {answer['answer']}: {answer['reason']}",
                file=out,
            )

    for step in _steps(record):
        print_refused(step.stage)
        outcome = step.status.value if step.error is None else f"{step.status.value}: {step.error}"
        if step.model_usage.calls:
            outcome += f"  ({_count(step.model_usage.calls, 'model call')})"
        print(
            f"  {step.stage:<6}{step.agent:<20}{_duration_ms(step):>8.0f}ms  {step.attempts:<9}{outcome}",
            file=out,
        )
        if step.reason:
            print(f"  {'':<6}why: {_printable(step.reason)}", file=out)
    for stage in sorted({r["choosing_stage"] for r in refused if isinstance(r["choosing_stage"], int)} - shown):
        print_refused(stage)  # choosing to finish or fail: no step follows
    print(f"\n{record.status.value} in {elapsed:.2f} s", file=out)
    if record.result is not None:
        print("result " + json.dumps(record.result, indent=2), file=out)
    if record.reason:
        print(f"reason {record.reason}", file=out)
    model = _model_line(record)
    if model is not None:
        print(f"model  {model}", file=out)
    print(f"audit  {len(record.audit)} records, head {record.audit_head[:16]}", file=out)
    print(f"logs   {log_path}", file=out)
    if out_path is not None:
        key = _key_file(out_path)
        print(f"record {out_path}  (check it with: baton audit verify {out_path} --public-key {key})", file=out)


# ---------------------------------------------------------------- baton audit verify


def _key_file(record_path: Path) -> Path:
    """Where `baton run --out FILE` puts the run's public audit key (offline keys live as long as the run)."""
    return record_path.with_name(record_path.name + ".key.pem")


def _verify(args: argparse.Namespace) -> int:
    from baton.verification import report_lines, verify_record

    if args.stack is not None:
        if args.file is not None or args.public_key is not None:
            raise UsageError(
                "--stack NAME RUN_ID reads the run and the key from the stack: give no FILE or --public-key"
            )
        return _verify_stack(*args.stack)
    if args.file is None:
        raise UsageError("give a run record FILE and --public-key KEY.pem (or --stack NAME RUN_ID)")
    record = _read_json(args.file)
    if not isinstance(record, dict) or not isinstance(record.get("audit"), list):
        raise UsageError(f"{str(args.file)!r} is not a run record (no 'audit' list of records)")
    if args.public_key is None:
        raise UsageError("--public-key KEY.pem is required: the workflow's audit key, from a source you trust")
    try:
        pem = args.public_key.read_bytes()
        verification = verify_record(record, pem, allow_running=args.allow_running)
    except OSError as error:
        raise UsageError(f"cannot read {str(args.public_key)!r}: {error.strerror}") from None
    except ValueError as error:  # not a PEM public key, or not P-256
        raise UsageError(f"{str(args.public_key)!r}: {error}") from None
    for line in report_lines(verification):
        print(line)
    return 0 if verification.ok else 1


def _verify_stack(stack: str, run_id: str) -> int:
    from baton.aws import AwsClients
    from baton.keys import InvalidRunId
    from baton.store import RunNotFound
    from baton.verification import report_lines, verify_stack_run

    try:
        verification = verify_stack_run(AwsClients(), stack, run_id)
    except (InvalidRunId, RunNotFound, LookupError) as error:
        raise UsageError(str(error)) from None
    for line in report_lines(verification):
        print(line)
    return 0 if verification.ok else 1


if __name__ == "__main__":
    sys.exit(main())
