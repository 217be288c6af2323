"""`baton`: start an app, look at it, check it, run its workflows offline, verify what a run recorded.

  baton init DIR                          a new app that runs, tests and synthesizes at once
  baton workflows [--json]                each workflow, its agents, their tools (side effect, output trust)
  baton validate                          every problem of the catalog (exit 2 if any)
  baton graph WORKFLOW                    the workflow as a Mermaid flowchart
  baton run WORKFLOW --input FILE|- [--json] [--out FILE] [--timeout SECONDS] [--approve auto|reject]
  baton approve RUN_ID --decision approve|reject [--reason TEXT] [--approval ID] [--stack NAME]
  baton audit verify FILE                 check the audit trail of a run record written by --out
  baton permissions report [--json PATH]  IAM statements the declared example runs exercised (exit 1: a call uncovered)
  baton inventory [--json] [--template PATH | --stack NAME]   agents, roles, secrets, egress; exit 1 on drift
  baton mcp pin URL TOOL [--name N] [--secret S] [--token-env VAR]   a remote MCP tool's declaration, pinned
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
    run.add_argument(
        "--approve",
        choices=("auto", "reject"),
        help="decide every approval the run waits for as the workflow's declared approver (for scripts and tests); "
        "without it, `baton run` shows each held action and asks on the terminal, or waits for `baton approve`",
    )

    approve = commands.add_parser(
        "approve",
        help="approve or reject an action a run waits for",
        description="approve RUN_ID --decision approve|reject: an offline run waiting in a `baton run` in this "
        "folder (decided as the workflow's declared approver); with --stack NAME, a deployed run, through its API "
        "(POST /runs/{run_id}/approvals, signed with your AWS credentials).",
    )
    approve.add_argument("run_id", metavar="RUN_ID", help="the run that waits")
    approve.add_argument("--decision", required=True, choices=("approve", "reject"))
    approve.add_argument("--reason", default="", help="why (the planner sees a rejection's reason)")
    approve.add_argument("--approval", metavar="ID", help="which approval (default: the run's only pending one)")
    approve.add_argument("--stack", metavar="NAME", help="decide on a deployed run of this stack")

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

    permissions = commands.add_parser("permissions", help="IAM permission tools")
    permission_commands = permissions.add_subparsers(dest="permissions_command", required=True, metavar="COMMAND")
    report = permission_commands.add_parser(
        "report",
        help="run the declared example inputs offline; per role, the statements exercised and unexercised",
        description="Runs each workflow's example inputs ([tool.baton.examples] in pyproject.toml) offline and "
        "judges every AWS call each function made against its derived IAM statements; exit 1 if any is uncovered.",
    )
    report.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write the JSON report (default build/permissions-report.json)",
    )
    report.add_argument("--timeout", type=_seconds, default=120.0, help="seconds to wait for each run (default 120)")

    inventory = commands.add_parser(
        "inventory",
        help="every agent's function, role, tools, IAM, secrets, egress; exit 1 on drift from the template or stack",
        description="The catalog against the synthesized template (default: synthesized now; --template: a cdk.out "
        "template) or a deployed stack (--stack): exit 1 listing each drift, 0 if none.",
    )
    inventory.add_argument("--json", action="store_true", help="print one JSON document (drift also on stderr)")
    inventory_source = inventory.add_mutually_exclusive_group()
    inventory_source.add_argument("--template", type=Path, metavar="PATH", help="cdk.out/STACK.template.json")
    inventory_source.add_argument("--stack", metavar="NAME", help="a deployed stack (CloudFormation, Lambda, IAM)")

    mcp = commands.add_parser("mcp", help="MCP server tools")
    mcp_commands = mcp.add_subparsers(dest="mcp_command", required=True, metavar="COMMAND")
    mcp_pin = mcp_commands.add_parser(
        "pin",
        help="print the declaration of one tool of a remote MCP server, pinned, to paste into the catalog",
        description="Lists the tools of the MCP server at URL (streamable HTTP, through Baton's egress transport: "
        "its address must be globally routable) and prints an mcp_tool(...) declaration pinning TOOL's "
        "description and input schema by their hash (baton.mcp). Exit 1, in one line, if that cannot be done.",
    )
    mcp_pin.add_argument("url", metavar="URL", help="the server's endpoint, e.g. https://mcp.example.com/mcp")
    mcp_pin.add_argument("tool", metavar="TOOL", help="the tool's name on the server")
    mcp_pin.add_argument("--name", help="the tool's name in the catalog (default: derived from TOOL)")
    mcp_pin.add_argument("--secret", metavar="NAME", help="the secret resource whose value is the bearer token")
    mcp_pin.add_argument(
        "--token-env",
        metavar="VAR",
        help="an environment variable holding a bearer token to list the tools with (never a command-line argument)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "init": _init,
        "workflows": _workflows,
        "validate": _validate,
        "graph": _graph,
        "run": _run,
        "approve": _approve,
        "audit": _verify,
        "permissions": _permissions_report,
        "inventory": _inventory,
        "mcp": _mcp_pin,
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


def _load_app(explicit: str | None, workflow: str | None = None) -> LoadedApp:
    """The app (the catalogs a run of `workflow` may reach into, when a workflow is named: baton.local.reach)."""
    from baton.catalog import CatalogError
    from baton.config import ConfigError, app_config, load_app
    from baton.validate import describe_exception

    try:  # the catalog imports every workflow's models: only when needed
        if workflow is None:
            return load_app(app_config(explicit))
        from baton.local.reach import load_reach

        return load_reach(app_config(explicit), workflow)
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
    from baton.rule_of_two import classify_all

    rule_of_two = classify_all(catalog)
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
                "approvals": None
                if workflow.approvals is None
                else {
                    "approver_roles": list(workflow.approvals.approver_roles),
                    "notify": None if workflow.approvals.notify is None else workflow.approvals.notify.name,
                    "default_expiry_seconds": workflow.approvals.default_expiry_seconds,
                },
                "agents": [
                    {
                        "name": agent.name,
                        "description": agent.description,
                        "model": None if agent.model is None else agent.model.model_id,
                        "context_keys": list(agent.context_keys),
                        "policies": None if agent.policies is None else agent.policies.label,
                        "policies_log_only": agent.policies is not None and agent.policies.log_only,
                        "rule_of_two": {
                            "classes": rule_of_two[agent.name].classes,
                            **rule_of_two[agent.name].model_dump(exclude={"agent"}),
                        },
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
        approvals = workflow["approvals"]
        if approvals is not None:
            told = f", notify {approvals['notify']}" if approvals["notify"] else ""
            roles = ", ".join(approvals["approver_roles"])
            print(f"  approve  by {roles}{told}; expires after {approvals['default_expiry_seconds']} s by default")
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
            print(f"    rule of two  {_rule_of_two_line(agent['rule_of_two'])}")
            if agent["policies"]:
                log_only = " (log only)" if agent["policies_log_only"] else ""
                print(f"    policies     {agent['policies']}{log_only}: deny by default")
            if not agent["tools"]:
                print("    no tools (pure logic)")
            for tool in agent["tools"]:
                trust = "trusted output" if tool["output_trusted"] else "untrusted output"
                columns = f"{tool['name']:<{width}}  {tool['side_effect']:<12}  {trust:<16}"
                print(f"    tool {columns}  {tool['description']}")
    return 0


def _rule_of_two_line(verdict: dict[str, Any]) -> str:
    """ "AC: untrusted input, state change or egress", "-: none of the three", "ABC: ..., every C tool gated"."""
    parts = [
        name
        for name, key in (
            ("untrusted input", "untrusted_input"),
            ("sensitive data", "sensitive_data"),
            ("state change or egress", "changes_state"),
        )
        if verdict[key]
    ]
    line = f"{verdict['classes']}: {', '.join(parts) or 'none of the three'}"
    if verdict["classes"] == "ABC":
        line += f"; gated by approval: {', '.join(verdict['gated_tools'])}"
    return line


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


# ---------------------------------------------------------------- baton inventory


def _inventory(args: argparse.Namespace) -> int:
    from baton.inventory import InventoryError, inventory_of, read_template_file, render_table, synthesize_template

    app = _load_app(args.catalog)
    try:
        if args.stack is not None:
            from baton.inventory import stack_view

            view = stack_view(args.stack)
        elif args.template is not None:
            view = read_template_file(args.template)
        else:
            view = synthesize_template(app.config)
    except InventoryError as error:
        raise UsageError(str(error)) from None
    inventory = inventory_of(app.catalog, view)
    if args.json:
        print(inventory.model_dump_json(indent=2))
        for drift in inventory.drift:
            print(drift.line(), file=sys.stderr)
    else:
        sys.stdout.write(render_table(inventory))
    return 0 if inventory.ok else 1


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
    """Everything `baton run` can check before a run starts: it returns the app to deploy and the run's input."""
    from baton.catalog import CatalogError
    from baton.local.reach import reach
    from baton.validate import check_paths, describe_validation_error

    if args.out is not None:
        _check_writable(args.out)
    run_input = _read_json(args.input)
    app = _load_app(args.catalog, args.workflow)
    workflow = _workflow(app.catalog, args.workflow)
    try:
        workflow.input_model.model_validate(run_input)
    except ValidationError as error:
        what = f"{_name(args.input)} is not a valid {workflow.name} input"
        raise UsageError(f"{what}: {describe_validation_error(error)}") from None
    # the offline deployment holds what this run may reach alone (baton.local.reach), and imports each of its
    # planners, agents and tools: a typo must not surface as a crash of the deployment
    try:
        app = reach(app, workflow.name)
    except CatalogError as error:
        raise UsageError(f"cannot deploy what {workflow.name} may reach: {error}") from None
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
                engine = stack.enter_context(LocalEngine(app))
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
                record, public_key = _wait_for_run(engine, run_id, args, out)
                record, child_keys = _with_children(engine, record)
                triggered = _triggered_runs(engine, record, args.timeout)  # the event-driven pattern
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
            _write_keys(args.out, public_key, child_keys)
        except OSError as error:
            print(f"baton: cannot write {str(args.out)!r}: {error.strerror}", file=sys.stderr)
            return 1
    return _report(args, record, triggered, elapsed, log_path, out)


def _report(
    args: argparse.Namespace,
    record: RunRecord,
    triggered: list[dict[str, Any]],
    elapsed: float,
    log_path: Path,
    out: IO[str],
) -> int:
    """Print the run (and the runs its events started) as `--json` or a timeline; the exit status."""
    if args.json:
        print(json.dumps(_summary(record, log_path) | {"triggered_runs": triggered}, indent=2), file=out)
    else:
        _print_timeline(record, elapsed, log_path, args.out, out)
        _print_triggered(triggered, out)
    succeeded = record.status.value == "SUCCEEDED" and all(t["status"] == "SUCCEEDED" for t in triggered)
    return 0 if succeeded else 1


def _triggered_runs(engine: Any, record: RunRecord, timeout: float) -> list[dict[str, Any]]:
    """The runs the events this run published started (baton.triggers), each waited for, as linked steps."""
    if not engine.deployment.trigger_queues:
        return []
    return [
        {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "status": run.status.value,
            "result": run.result,
            "reason": run.reason,
            "trigger": None if run.trigger is None else run.trigger.model_dump(mode="json"),
            "steps": [{"stage": s.stage, "agent": s.agent, "status": s.status.value} for s in _steps(run)],
            "audit_head": run.audit_head,
        }
        for run in engine.wait_triggered(record.run_id, timeout_seconds=timeout)
    ]


def _print_triggered(triggered: list[dict[str, Any]], out: IO[str]) -> None:
    if not triggered:
        return
    print("\ntriggered runs (started by the events this run published)", file=out)
    for run in triggered:
        trigger = run["trigger"] or {}
        print(f"  -> {run['workflow']:<22}{run['status']:<11}{run['run_id']}", file=out)
        print(f"     event {trigger.get('event_id')}  {trigger.get('detail_type')} on {trigger.get('bus')}", file=out)
        for step in run["steps"]:
            print(f"     stage {step['stage']}  {step['agent']:<20}{step['status']}", file=out)


def _with_children(engine: Any, record: RunRecord) -> tuple[RunRecord, dict[str, bytes]]:
    """The run's record with its child runs' records (baton.children), and each child workflow's public audit key."""
    from baton.runs import with_children

    tree = with_children(engine.store, record)
    keys: dict[str, bytes] = {}
    pending = list(tree.children)
    while pending:
        child = pending.pop()
        if child.workflow not in keys:
            keys[child.workflow] = engine.public_key(child.workflow)
        pending.extend(child.children)
    return tree, keys


def _wait_for_run(engine: Any, run_id: str, args: argparse.Namespace, out: IO[str]) -> tuple[RunRecord, bytes]:
    """The finished run and its workflow's public audit key; approvals decided as `--approve` says on the way."""
    desk = _ApprovalDesk(engine, run_id, args.approve, None if args.json else out)
    try:
        record = engine.wait(
            run_id,
            timeout_seconds=args.timeout,
            on_step=None if args.json else lambda step: _print_progress(step, out),
            on_approval=desk.ask,
            on_poll=desk.serve,
        )
    finally:
        desk.close()
    return record, engine.public_key(args.workflow)


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


def _approvals(record: RunRecord) -> list[dict[str, Any]]:
    """Each approval the run asked for, from its audit trail: the held call, the decision and who took it, the
    single-use grant's fate."""
    approvals: dict[str, dict[str, Any]] = {}
    for entry in record.audit:
        detail = entry.get("detail")
        if not isinstance(detail, dict) or not isinstance(detail.get("approval_id"), str):
            continue
        approval = approvals.setdefault(str(detail["approval_id"]), {"approval_id": detail["approval_id"]})
        kind = entry.get("kind")
        if kind == "approval_requested":
            approval |= {k: detail.get(k) for k in ("stage", "agent", "tool", "arguments_sha256", "policy_ids")}
            approval["outcome"] = "pending"
        elif kind == "approval_decided":
            approval |= {"outcome": detail.get("decision"), "approver": detail.get("approver")}
        elif kind == "approval_expired":
            approval["outcome"] = "expired"
        elif kind == "grant_settled":
            approval["grant"] = detail.get("state")
    return list(approvals.values())


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
                "child_run_id": s.child_run_id,
            }
            for s in _steps(record)
        ],
        "parent_run_id": record.parent_run_id,
        "child_runs": [_child_summary(child) for child in record.children],
        "refused_planner_answers": _refused_answers(record),
        "approvals": _approvals(record),
        "model_usage": record.model_usage.model_dump(),
        "model_usage_by_model": {m: u.model_dump() for m, u in sorted(record.model_usage_by_model.items())},
        "estimated_cost": None if record.model_cost is None else record.model_cost.model_dump(),
        "audit_head": record.audit_head,
        "log_file": str(log_path.resolve()),
    }


def _child_summary(child: RunRecord) -> dict[str, Any]:
    """A child run as `--json` lists it: who started it, how it ended, its steps, its own children."""
    return {
        "run_id": child.run_id,
        "workflow": child.workflow,
        "parent_run_id": child.parent_run_id,
        "status": child.status.value,
        "result": child.result,
        "reason": child.reason,
        "steps": [
            {"stage": s.stage, "agent": s.agent, "status": s.status.value, "child_run_id": s.child_run_id}
            for s in _steps(child)
        ],
        "audit_head": child.audit_head,
        "child_runs": [_child_summary(grandchild) for grandchild in child.children],
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
    for approval in _approvals(record):
        line = f"  approval {approval['approval_id']}  {approval.get('agent')} {approval.get('tool') or '(task)'}: "
        line += str(approval.get("outcome"))
        if approval.get("approver"):
            line += f" by {approval['approver']}"
        if approval.get("grant"):
            line += f", grant {approval['grant']}"
        print(line, file=out)
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


# ---------------------------------------------------------------- approvals


class _ApprovalDesk:
    """How `baton run` decides the approvals its run waits for: `--approve auto|reject`, a question on the
    terminal, or else a decision from `baton approve` in another terminal (baton.local.inbox)."""

    def __init__(self, engine: Any, run_id: str, mode: str | None, out: IO[str] | None) -> None:
        from baton.local.inbox import Inbox

        self._engine = engine
        self._run_id = run_id
        self._mode = mode
        self._out = out
        self._inbox = Inbox(run_id)
        self._listed: list[str] = []

    def ask(self, approval: Any) -> tuple[str, str] | None:
        self._show(approval)
        if self._mode == "auto":
            return "approve", "approved by baton run --approve auto"
        if self._mode == "reject":
            return "reject", "rejected by baton run --approve reject"
        if self._out is not None and sys.stdin is not None and sys.stdin.isatty():
            return self._prompt()
        self._say(
            f"        waiting: baton approve {self._run_id} --decision approve|reject "
            f"--approval {approval.approval_id}  (in this folder, while this run waits)"
        )
        return None

    def serve(self) -> None:
        """List what the run waits for in its inbox, and take the decisions `baton approve` left there."""
        if self._mode is not None:
            return
        pending = self._engine.pending_approvals(self._run_id)
        ids = [a.approval_id for a in pending]
        if ids != self._listed:
            self._inbox.list_pending(pending)
            self._listed = ids
        self._inbox.serve(self._decide)

    def _decide(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        decision, reason, approval_id = body.get("decision"), body.get("reason", ""), body.get("approval_id")
        if decision not in ("approve", "reject") or not isinstance(reason, str):
            return 400, {"error": "decision must be approve or reject", "field": "decision"}
        status, answer = self._engine.decide(
            self._run_id, decision, reason, approval_id=approval_id if isinstance(approval_id, str) else None
        )
        if status == 200:
            self._say(f"        {answer['state']} by {answer['approver']} (baton approve)")
        return status, answer

    def close(self) -> None:
        self._inbox.close()

    def _show(self, approval: Any) -> None:
        from datetime import UTC

        arguments = json.dumps(approval.arguments, sort_keys=True)
        until = datetime.fromtimestamp(approval.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        exact = "" if approval.arguments_exact else "  (shown redacted: approve by its hash)"
        self._say(f"  [? ] stage {approval.stage}  {approval.agent} asks to call {approval.tool or '(the task)'}")
        self._say(f"        arguments {_printable(arguments)[:500]}{exact}")
        self._say(f"        sha256 {approval.arguments_sha256}  approval {approval.approval_id}  expires {until}")
        why = ", ".join(approval.policy_ids) or approval.held_by
        self._say(f"        held by {why}: {_printable(approval.reason)}")

    def _prompt(self) -> tuple[str, str]:
        assert self._out is not None  # noqa: S101 (ask() prompts only with an output)
        self._out.write("        approve this call? [y/N] ")
        self._out.flush()
        answer = (sys.stdin.readline() or "").strip().lower()
        self._out.write("        reason (optional): ")
        self._out.flush()
        reason = _printable(sys.stdin.readline() or "")[:1000]
        return ("approve", reason) if answer in ("y", "yes") else ("reject", reason or "rejected on the terminal")

    def _say(self, line: str) -> None:
        if self._out is not None:
            print(line, file=self._out)


def _approve(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"decision": args.decision, "reason": args.reason}
    if args.approval is not None:
        body["approval_id"] = args.approval
    if args.stack is not None:
        status, answer = _approve_deployed(args.stack, args.run_id, body)
    else:
        from baton.local.inbox import InboxError, ask

        try:
            status, answer = ask(args.run_id, body)
        except InboxError as error:
            raise UsageError(str(error)) from None
    if status != 200 or not isinstance(answer, dict):
        message = answer.get("error", answer) if isinstance(answer, dict) else answer
        raise UsageError(f"the decision was refused ({status}): {message}")
    print(f"{answer.get('state')}: approval {answer.get('approval_id')} of run {args.run_id}", end="")
    print(" (the run resumes)" if answer.get("resumed") else "")
    return 0


def _approve_deployed(stack: str, run_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST /runs/{run_id}/approvals on the stack's API, signed (SigV4) with the caller's own credentials."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlparse

    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from baton.aws import AwsClients
    from baton.verification import stack_outputs

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise UsageError("no AWS credentials to sign the request with (configure a profile or the environment)")
    try:
        url = stack_outputs(AwsClients().client("cloudformation"), stack)["ApiUrl"].rstrip("/")
    except (KeyError, LookupError) as error:
        raise UsageError(f"stack {stack!r} has no ApiUrl output: {error}") from None
    except Exception as error:  # botocore's own errors (no such stack, no access)
        raise UsageError(f"cannot read stack {stack!r}: {error}") from None
    target = f"{url}/runs/{run_id}/approvals"
    if not target.startswith("https://"):
        raise UsageError(f"stack {stack!r} names a non-HTTPS API URL: {url}")
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=target, data=data, headers={"Content-Type": "application/json"})
    host = (urlparse(target).hostname or "").split(".")
    # https://<api id>.execute-api.<region>.amazonaws.com/<stage>/...: the region the request is signed for
    region = host[2] if len(host) > 3 and host[1] == "execute-api" else session.get_config_variable("region")
    signer = SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region or "us-east-1")
    signer.add_auth(request)
    prepared = urllib.request.Request(target, data=data, headers=dict(request.headers.items()), method="POST")  # noqa: S310 (https, checked above)
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:  # noqa: S310 (https, checked above)
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return int(error.code), json.loads(error.read() or b"{}")
        except ValueError:
            return int(error.code), {"error": error.reason}
    except (urllib.error.URLError, TimeoutError) as error:
        raise UsageError(f"cannot reach the API of stack {stack!r}: {error}") from None


# ---------------------------------------------------------------- baton audit verify


def _key_file(record_path: Path) -> Path:
    """Where `baton run --out FILE` puts the run's public audit key (offline keys live as long as the run)."""
    return record_path.with_name(record_path.name + ".key.pem")


def _write_keys(out: Path, public_key: bytes, child_keys: dict[str, bytes]) -> None:
    """The run's public audit key beside its record, and each child workflow's beside it (baton.children)."""
    _key_file(out).write_bytes(public_key)
    for workflow, key in child_keys.items():
        _child_key_file(_key_file(out), workflow).write_bytes(key)


def _child_key_file(key_path: Path, workflow: str) -> Path:
    """Where a child workflow's public audit key is, beside the run's: run.json.key.pem -> run.json.WORKFLOW.key.pem"""
    name = key_path.name.removesuffix(".key.pem") if key_path.name.endswith(".key.pem") else key_path.name
    return key_path.with_name(f"{name}.{workflow}.key.pem")


def _verify_children(record: dict[str, Any], key_path: Path, allow_running: bool) -> tuple[list[str], bool]:
    """Each child run's chain verified with its own workflow's key (beside the run's), and the parent's chain checked
    to record the child's final head (a `child_run_ended` record naming it)."""
    from baton.verification import report_lines, verify_record

    lines: list[str] = []
    ok = True
    ended = {
        str(detail.get("child_run_id")): detail
        for entry in record.get("audit", [])
        if isinstance(entry, dict)
        and entry.get("kind") == "child_run_ended"
        and isinstance(detail := entry.get("detail"), dict)
    }
    for child in record.get("children") or []:
        if not isinstance(child, dict):
            continue
        run_id, workflow = str(child.get("run_id")), str(child.get("workflow"))
        child_key = _child_key_file(key_path, workflow)
        try:
            verification = verify_record(child, child_key.read_bytes(), allow_running=allow_running)
        except OSError as error:
            why = f"cannot read {str(child_key)!r} (child workflow {workflow}'s key): {error.strerror}"
            raise UsageError(why) from None
        lines += [f"child run {run_id}: {line}" for line in report_lines(verification)]
        ok = ok and verification.ok
        recorded = ended.get(run_id)
        head = str(child.get("audit_head"))
        mine = child.get("parent_run_id") == record.get("run_id")
        if recorded is None or recorded.get("audit_head") != head or not mine:
            lines.append(f"child run {run_id}: NOT verified: the parent's chain does not record its final head")
            ok = False
        else:
            lines.append(f"child run {run_id}: the parent's chain records its final head {head[:16]}")
        more, child_ok = _verify_children(child, key_path, allow_running)
        lines += more
        ok = ok and child_ok
    return lines, ok


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
    children, children_ok = _verify_children(record, args.public_key, args.allow_running)
    for line in children:
        print(line)
    return 0 if verification.ok and children_ok else 1


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


# ---------------------------------------------------------------- baton permissions report


def _permissions_report(args: argparse.Namespace) -> int:
    """The declared example runs, offline; each call judged against its function's statements (baton.permissions)."""
    from baton import permissions
    from baton.validate import check_paths, describe_exception

    app = _load_app(args.catalog)
    try:
        examples = permissions.declared_examples(app.config, app.catalog)
    except permissions.ExamplesError as error:
        raise UsageError(str(error)) from None
    problems = check_paths(app.catalog)
    if problems:
        raise UsageError(problems[0].message)
    path: Path = args.json or permissions.DEFAULT_JSON
    try:
        if args.json is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() or not path.parent.is_dir():
            raise UsageError(f"--json {str(path)!r}: name a file in an existing folder")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log_path = LOG_DIR / "permissions-report.jsonl"
        log_file = log_path.open("w", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write under {str(path.parent)!r} or {str(LOG_DIR)!r}: {error.strerror}") from None
    from baton.observability import logs_to

    started = time.perf_counter()
    with log_file, logs_to(log_file):
        try:
            report = permissions.run_examples(app.config, examples, timeout_seconds=args.timeout)
        except ModuleNotFoundError as error:
            raise UsageError(
                f"the report runs offline: pip install 'baton[offline]' ({error.name} is missing)"
            ) from None
        except TimeoutError as error:
            print(f"baton: {error}; its functions' logs: {log_path}", file=sys.stderr)
            return 1
        except Exception as error:  # an offline fixture of the app failed: nothing was judged
            raise UsageError(f"cannot run the examples offline: {describe_exception(error)}") from None
    try:
        path.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {str(path)!r}: {error.strerror}") from None
    for line in permissions.table_lines(report):
        print(line)
    print(f"report {path}  ({time.perf_counter() - started:.1f} s; the functions' logs: {log_path})")
    for line in permissions.uncovered_lines(report):
        print(f"baton: {line}", file=sys.stderr)
    return 0 if report.ok else 1


# ---------------------------------------------------------------- baton mcp pin


def _mcp_transport() -> Any:
    """The real network, as an agent function has it (PinnedTransport: globally routable addresses only)."""
    from baton.http import PinnedTransport

    return PinnedTransport()


def _mcp_pin(args: argparse.Namespace) -> int:
    try:
        from baton.mcp import McpPinError, declaration, pin
    except ModuleNotFoundError as error:
        raise UsageError(f"MCP tools need the mcp extra: pip install 'baton[mcp]' ({error.name} is missing)") from None
    token = None
    if args.token_env is not None:
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            raise UsageError(f"environment variable {args.token_env} holds no token")
    try:
        from baton.mcp_client import list_tools  # noqa: F401 - the SDK is there before any request
    except ModuleNotFoundError as error:
        raise UsageError(f"MCP tools need the mcp extra: pip install 'baton[mcp]' ({error.name} is missing)") from None
    try:
        listed = pin(args.url, args.tool, _mcp_transport(), token=token)
        text = declaration(args.url, listed, name=args.name, secret=args.secret)
    except (McpPinError, ValueError) as error:
        message = str(error) if token is None else str(error).replace(token, "***")
        print(f"baton: error: {' '.join(message.split())}", file=sys.stderr)
        return 1
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
