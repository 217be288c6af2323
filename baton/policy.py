"""Tool-call policies: Cedar, deny by default, evaluated in the agent function before each tool runs.

An agent whose AgentSpec names a PolicyFile is *under policies*: each of its tool calls (after the allowlist,
argument validation and the taint checks of baton.tools) is a Cedar request

    principal  Baton::Agent::"<agent>"        attributes: model_backed
    action     Baton::Action::"<tool>"        in Baton::Action::"call" and Baton::Action::"<read|write|irreversible>"
    resource   Baton::Tool::"<tool>"          attributes: side_effect, output_trusted, egress
    context    arguments  the validated arguments (the tool's argument model, as a Cedar record)
               taint      untrusted (the arguments may derive from untrusted data), inputs_untrusted (the task's
                          input holds untrusted values), read_untrusted (the task read a tool's untrusted output
                          before this call), flagged (an injection detector flagged a value the task received)
               prior      this run's earlier successful state-changing calls of this tool (TaskInput.prior_calls):
                          calls (how many), same.<argument> (how many had this argument's present value),
                          sum.<integer argument> (the sum of that argument)

and the outcome is one of:
- allow: a permit applies and no forbid does;
- deny: no permit applies (deny by default), a forbid applies, or a policy failed to evaluate (fail closed);
- approval: a permit applies, and the only forbids that apply carry `@approval("why")`: the call is held for a
  person (`@expires("3600")`: how long the approval may take). A grant for exactly this call lets it run once.

Every policy carries `@id("...")`: the ids are what a ToolCallRecord and the audit name. `@log_only` on a policy, or
`log_only=True` on the PolicyFile, records what the policy would have decided and lets the call go ahead.

The schema (generate_schema) is derived from the catalog: entity types for agents and tools, one action per tool
whose context is its argument model's JSON schema translated to Cedar types (string, integer, boolean, enums,
lists as sets, nested models as records; a float or a free-form mapping has no Cedar type here and is left out of
the context). Every policy file is validated against it when the catalog loads, so a policy naming an unknown tool
or agent, or reading an argument a tool does not have, or comparing it with the wrong type, fails the load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, JsonValue

from baton.catalog import AgentSpec, Catalog, PolicyFile, SideEffect, ToolSpec
from baton.task_models import PolicyEffect, PriorCall

if TYPE_CHECKING:
    import cedarpy

NAMESPACE = "Baton"
AGENT_TYPE = f"{NAMESPACE}::Agent"
TOOL_TYPE = f"{NAMESPACE}::Tool"
ACTION_TYPE = f"{NAMESPACE}::Action"
CALL_GROUP = "call"  # every tool's action is in this group, and in the group of its side effect
GROUPS = (CALL_GROUP, *(effect.value for effect in SideEffect))
# the annotations Baton reads; any other is refused (a misspelt @aproval must not pass silently)
ID, APPROVAL, EXPIRES, LOG_ONLY = "id", "approval", "expires", "log_only"
ANNOTATIONS = frozenset({ID, APPROVAL, EXPIRES, LOG_ONLY})
POLICY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
MIN_EXPIRY, MAX_EXPIRY = 60, 7 * 24 * 3600
MAX_REASON_CHARS = 300
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class PolicyError(ValueError):
    """A policy file that cannot be read, parsed or validated. The message names the file and the policy."""


def engine() -> Any:
    """The Cedar engine (cedarpy), imported when policies are first read (a function under none never loads it)."""
    import cedarpy

    return cedarpy


# ---------------------------------------------------------------- reading a policy file


@dataclass(frozen=True)
class Rule:
    """One policy of a file, as Baton reads it (its Cedar JSON form and the annotations Baton acts on)."""

    key: str  # the parser's id (policy0, ...): what Cedar's diagnostics name
    id: str  # @id: what records and the audit name
    effect: Literal["permit", "forbid"]
    approval: str | None  # @approval's reason: a forbid that holds the call for a person
    expires_in_seconds: int | None
    log_only: bool
    conditional: bool  # has a when or unless clause
    est: dict[str, Any] = field(repr=False, compare=False)

    def scope(self, part: Literal["principal", "action", "resource"]) -> dict[str, Any]:
        scope: dict[str, Any] = self.est[part]
        return scope


@dataclass(frozen=True)
class Policies:
    file: PolicyFile
    text: str
    rules: tuple[Rule, ...]

    def enforced(self) -> tuple[Rule, ...]:
        return () if self.file.log_only else tuple(r for r in self.rules if not r.log_only)


def read_text(file: PolicyFile) -> str:
    try:
        return resources.files(file.package).joinpath(file.name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, UnicodeDecodeError) as error:
        raise PolicyError(f"cannot read policies {file.label}: {type(error).__name__}: {error}") from None


@cache
def load(file: PolicyFile) -> Policies:
    """A policy file, parsed, with its annotations checked (not yet against a catalog's schema)."""
    text = read_text(file)
    try:
        parsed = json.loads(engine().policies_to_json_str(text))
    except ValueError as error:
        raise PolicyError(f"policies {file.label} do not parse: {error}") from None
    problems: list[str] = []
    if parsed.get("templates") or parsed.get("templateLinks"):
        problems.append("policy templates are not supported")
    rules: list[Rule] = []
    for key, est in sorted(parsed.get("staticPolicies", {}).items(), key=lambda item: int(item[0][6:] or 0)):
        rule, rule_problems = _rule(key, est)
        problems += rule_problems
        if rule is not None:
            rules.append(rule)
    for policy_id in sorted({r.id for r in rules if [x.id for x in rules].count(r.id) > 1}):
        problems.append(f"policy id {policy_id!r} is used twice")
    if not rules and not problems:
        problems.append("the file holds no policy (an agent under it could call nothing)")
    if problems:
        raise PolicyError(f"policies {file.label}: " + "; ".join(problems))
    return Policies(file, text, tuple(rules))


def _rule(key: str, est: dict[str, Any]) -> tuple[Rule | None, list[str]]:
    import re

    annotations: dict[str, str | None] = est.get("annotations", {})
    policy_id = annotations.get(ID)
    name = f"policy {policy_id!r}" if policy_id else f"the policy at position {int(key[6:]) + 1}"
    problems = [f"{name} has an unknown annotation @{a}" for a in sorted(set(annotations) - ANNOTATIONS)]
    if not policy_id or not re.match(POLICY_ID_PATTERN, policy_id):
        problems.append(f'{name} needs @id("...") of lowercase letters, digits and hyphens')
    effect = est["effect"]
    approval = annotations.get(APPROVAL) if APPROVAL in annotations else None
    if APPROVAL in annotations:
        if effect != "forbid":
            problems.append(f"{name}: @approval belongs on a forbid (a call it matches is held for a person)")
        if not approval or len(approval) > MAX_REASON_CHARS:
            problems.append(f"{name}: @approval needs a reason of 1 to {MAX_REASON_CHARS} characters")
    expires: int | None = None
    if EXPIRES in annotations:
        raw = annotations[EXPIRES] or ""
        if APPROVAL not in annotations:
            problems.append(f"{name}: @expires applies to an @approval policy only")
        elif not raw.isdigit() or not MIN_EXPIRY <= int(raw) <= MAX_EXPIRY:
            problems.append(f"{name}: @expires must be whole seconds from {MIN_EXPIRY} to {MAX_EXPIRY}")
        else:
            expires = int(raw)
    if LOG_ONLY in annotations and annotations[LOG_ONLY] not in (None, "", "true"):
        problems.append(f'{name}: @log_only takes no value (or "true")')
    if problems:
        return None, problems
    return (
        Rule(
            key=key,
            id=str(policy_id),
            effect=effect,
            approval=approval or None,
            expires_in_seconds=expires,
            log_only=LOG_ONLY in annotations,
            conditional=bool(est.get("conditions")),
            est=est,
        ),
        [],
    )


# ---------------------------------------------------------------- the schema, from the catalog


def cedar_type(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """A JSON schema (pydantic's) as a Cedar schema type, and whether the value may be null; None: no Cedar type."""
    if "$ref" in schema:
        return cedar_type(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        present = [v for v in variants if v.get("type") != "null"]
        nullable = len(present) < len(variants)
        if len(present) != 1:
            return None, nullable
        found, inner_nullable = cedar_type(present[0], defs)
        return found, nullable or inner_nullable
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return cedar_type(schema["allOf"][0], defs)
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    if values is not None:
        kinds = {_scalar_kind(value) for value in values}
        return ({"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else None), False
    kind = schema.get("type")
    if kind == "string":
        return {"type": "String"}, False
    if kind == "integer":
        return {"type": "Long"}, False
    if kind == "boolean":
        return {"type": "Bool"}, False
    if kind == "array":
        element, element_nullable = cedar_type(schema.get("items", {}), defs)
        return ({"type": "Set", "element": element} if element and not element_nullable else None), False
    if kind == "object" and "properties" in schema and schema.get("additionalProperties") is not True:
        return _record(schema, defs), False
    return None, False


def _scalar_kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Long"
    return "String" if isinstance(value, str) else None


def _record(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        found, nullable = cedar_type(prop, defs)
        if found is not None:
            # a validated model dumps every field: only a nullable one may be absent from the context
            attributes[name] = {**found, "required": not nullable}
    return {"type": "Record", "attributes": attributes}


def arguments_type(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization")
    return _record(schema, schema.get("$defs", {}))


def _prior_type(arguments: dict[str, Any]) -> dict[str, Any]:
    scalars = {n: a for n, a in arguments["attributes"].items() if a["type"] in {"String", "Long", "Bool"}}
    longs = {n for n, a in scalars.items() if a["type"] == "Long"}
    long_type = {"type": "Long"}
    return {
        "type": "Record",
        "attributes": {
            "calls": long_type,
            "same": {"type": "Record", "attributes": dict.fromkeys(scalars, long_type)},
            "sum": {"type": "Record", "attributes": dict.fromkeys(sorted(longs), long_type)},
        },
    }


_TAINT = {
    "type": "Record",
    "attributes": {name: {"type": "Bool"} for name in ("untrusted", "inputs_untrusted", "read_untrusted", "flagged")},
}


def generate_schema(catalog: Catalog) -> dict[str, Any]:
    """The Cedar schema (JSON form) of a catalog's agents, tools and calls."""
    actions: dict[str, Any] = {group: {} for group in GROUPS}
    for tool in catalog.tools.values():
        arguments = arguments_type(tool.arguments)
        actions[tool.name] = {
            "memberOf": [{"id": CALL_GROUP}, {"id": tool.side_effect.value}],
            "appliesTo": {
                "principalTypes": ["Agent"],
                "resourceTypes": ["Tool"],
                "context": {
                    "type": "Record",
                    "attributes": {"arguments": arguments, "taint": _TAINT, "prior": _prior_type(arguments)},
                },
            },
        }
    return {
        NAMESPACE: {
            "entityTypes": {
                "Agent": {"shape": {"type": "Record", "attributes": {"model_backed": {"type": "Bool"}}}},
                "Tool": {
                    "shape": {
                        "type": "Record",
                        "attributes": {
                            "side_effect": {"type": "String"},
                            "output_trusted": {"type": "Bool"},
                            "egress": {"type": "Bool"},
                        },
                    }
                },
            },
            "actions": actions,
        }
    }


# ---------------------------------------------------------------- checking a catalog's policies


def problems(catalog: Catalog) -> list[str]:
    """Every policy file of the catalog, read and validated against the schema generated from it."""
    files = catalog.policy_files()
    if not files:
        return []
    found: list[str] = []
    schema = json.dumps(generate_schema(catalog))
    for file, agents in files.items():
        try:
            policies = load(file)
        except PolicyError as error:
            found.append(str(error))
            continue
        result = engine().validate_policies(policies.text, schema)
        names = {rule.key: rule.id for rule in policies.rules}
        for invalid in result.errors:
            where = f"policy {names.get(invalid.policy_id, invalid.policy_id)!r}: " if invalid.policy_id else ""
            found.append(f"policies {file.label}: {where}{invalid.error}")
        under = {agent.name for agent in agents}
        for rule in policies.rules:
            for kind, name in _entities(rule.est):
                if kind == AGENT_TYPE and name not in under:
                    known = "is not under this file" if name in catalog.agents else "is unknown"
                    found.append(f"policies {file.label}: policy {rule.id!r} names agent {name!r}, which {known}")
                elif kind == TOOL_TYPE and name not in catalog.tools:
                    found.append(f"policies {file.label}: policy {rule.id!r} names unknown tool {name!r}")
    return found


def _entities(node: object) -> Iterator[tuple[str, str]]:
    """Every entity (type, id) a policy's JSON form names, in its scope and its conditions."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"entity", "__entity"} and isinstance(value, dict) and "type" in value:
                yield str(value["type"]), str(value["id"])
            elif key == "entities" and isinstance(value, list):
                yield from ((str(v["type"]), str(v["id"])) for v in value if isinstance(v, dict))
            else:
                yield from _entities(value)
    elif isinstance(node, list):
        for item in node:
            yield from _entities(item)


# ---------------------------------------------------------------- what a rule's scope may match


def _matches(scope: dict[str, Any], kind: str, name: str, groups: Iterable[str] = ()) -> bool:
    """Whether a rule's principal, action or resource scope can match entity kind::name (a member of `groups`)."""
    op = scope.get("op")
    if op == "All":
        return True
    if op == "is":
        return bool(scope.get("entity_type") == kind and ("in" not in scope or _matches(scope["in"], kind, name)))
    if op == "==":
        return scope.get("entity") == {"type": kind, "id": name}
    if op == "in":
        targets = scope.get("entities") or [scope.get("entity")]
        names = {name, *groups}
        return any(t == {"type": kind, "id": n} for t in targets for n in names)
    return True  # a scope Baton does not read (a slot): assume it may match


def applies_to(rule: Rule, agent: str, tool: ToolSpec) -> bool:
    """Whether the rule's scope (conditions aside) matches calls of `tool` by `agent`."""
    return (
        _matches(rule.scope("principal"), AGENT_TYPE, agent)
        and _matches(rule.scope("action"), ACTION_TYPE, tool.name, (CALL_GROUP, tool.side_effect.value))
        and _matches(rule.scope("resource"), TOOL_TYPE, tool.name)
    )


def can_require_approval(catalog: Catalog, agent_name: str) -> bool:
    """Whether an enforced @approval policy may hold a call of this agent (its conditions aside): such an agent may
    need a person, so its workflows must be able to wait (standard, never express)."""
    agent = catalog.agent(agent_name)
    if agent.policies is None:
        return False
    rules = [r for r in load(agent.policies).enforced() if r.approval is not None]
    return any(applies_to(rule, agent.name, tool) for rule in rules for tool in catalog.tools_of(agent))


def gated(catalog: Catalog, agent_name: str, tool_name: str) -> bool:
    """Whether every call of the tool by the agent is held for a person, or refused: an enforced, unconditional
    forbid (with @approval, or without) whose scope matches it."""
    agent = catalog.agent(agent_name)
    if agent.policies is None:
        return False
    tool = catalog.tools[tool_name]
    return any(
        r.effect == "forbid" and not r.conditional and applies_to(r, agent.name, tool)
        for r in load(agent.policies).enforced()
    )


# ---------------------------------------------------------------- deciding a call


@dataclass(frozen=True)
class PolicyDecision:
    effect: PolicyEffect
    policy_ids: list[str]
    # the effect was only recorded (log-only): the call goes ahead whatever it says
    log_only: bool = False
    reason: str = ""
    expires_in_seconds: int | None = None

    @property
    def holds(self) -> bool:
        return not self.log_only and self.effect == "approval"

    @property
    def denies(self) -> bool:
        return not self.log_only and self.effect == "deny"


@dataclass(frozen=True)
class CallContext:
    """What a policy knows of a call beyond its arguments: the task's taint and the run's earlier calls."""

    inputs_untrusted: bool = False
    read_untrusted: bool = False
    flagged: bool = False
    prior_calls: Sequence[PriorCall] = ()


class PolicyEngine:
    """One agent's policies, parsed and built once per function (schema, policy sets, entities)."""

    def __init__(self, catalog: Catalog, agent: AgentSpec) -> None:
        if agent.policies is None:
            raise ValueError(f"agent {agent.name!r} is under no policies")
        self._cedar = engine()
        self._catalog = catalog
        self._agent = agent
        self.policies = load(agent.policies)
        self._schema = self._cedar.Schema.from_json_str(json.dumps(generate_schema(catalog)))
        self._ids = {rule.key: rule for rule in self.policies.rules}
        self._sets: dict[tuple[bool, bool], cedarpy.PolicySet] = {}
        self._arguments: dict[str, dict[str, Any]] = {}

    @property
    def log_only(self) -> bool:
        return self.policies.file.log_only

    def decide(self, tool: ToolSpec, arguments: dict[str, JsonValue], context: CallContext) -> PolicyDecision:
        """The policies' answer for one validated call: deny by default, forbid wins, @approval holds."""
        try:
            request = self._request(tool, arguments, context)
        except ValueError as error:  # a value Cedar cannot hold (an integer beyond 64 bits): fail closed
            return PolicyDecision("deny", [], reason=f"the call cannot be put to the policies: {error}")
        would_be = self._decide(request, enforced_only=False)
        if self.log_only:
            return replace(would_be, log_only=True)
        enforced = self._decide(request, enforced_only=True)
        if enforced.effect == "allow" and would_be.effect != "allow":
            return replace(would_be, log_only=True)
        return enforced

    def _decide(self, request: dict[str, Any], *, enforced_only: bool) -> PolicyDecision:
        plain = self._authorize(request, enforced_only, approval=False)
        if plain.diagnostics.errors:
            return PolicyDecision("deny", self._named(plain.diagnostics.errors), reason="a policy failed to evaluate")
        if not plain.allowed:
            ids = self._named(plain.diagnostics.reasons)
            return PolicyDecision("deny", ids, reason="a policy forbids it" if ids else "no policy permits it")
        held = self._authorize(request, enforced_only, approval=True)
        if held.diagnostics.errors:
            return PolicyDecision("deny", self._named(held.diagnostics.errors), reason="a policy failed to evaluate")
        rules = [self._ids[key] for key in held.diagnostics.reasons if key in self._ids]
        if rules:
            expiries = [r.expires_in_seconds for r in rules if r.expires_in_seconds is not None]
            return PolicyDecision(
                "approval",
                sorted(r.id for r in rules),
                reason="; ".join(sorted({str(r.approval) for r in rules}))[:MAX_REASON_CHARS],
                expires_in_seconds=min(expiries) if expiries else None,
            )
        return PolicyDecision("allow", self._named(plain.diagnostics.reasons))

    def _named(self, keys_or_errors: Iterable[str]) -> list[str]:
        found = {rule.id for key, rule in self._ids.items() for text in keys_or_errors if _names(text, key)}
        return sorted(found)

    def _authorize(self, request: dict[str, Any], enforced_only: bool, *, approval: bool) -> Any:
        return self._cedar.is_authorized(
            request, self._policy_set(enforced_only, approval), self._entities(request), self._schema
        )

    def _policy_set(self, enforced_only: bool, approval: bool) -> Any:
        key = (enforced_only, approval)
        if key not in self._sets:
            rules = self.policies.enforced() if enforced_only else self.policies.rules
            chosen = {r.key: r.est for r in rules if (r.approval is not None) == approval}
            document = {"staticPolicies": chosen, "templates": {}, "templateLinks": []}
            self._sets[key] = self._cedar.PolicySet.from_json_str(json.dumps(document))
        return self._sets[key]

    def _entities(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        tool = self._catalog.tools[request["resource"]["id"]]
        return [
            {
                "uid": {"type": AGENT_TYPE, "id": self._agent.name},
                "attrs": {"model_backed": self._agent.model is not None},
                "parents": [],
            },
            {
                "uid": {"type": TOOL_TYPE, "id": tool.name},
                "attrs": {
                    "side_effect": tool.side_effect.value,
                    "output_trusted": tool.output_trusted,
                    "egress": bool(tool.egress),
                },
                "parents": [],
            },
        ]

    def _request(self, tool: ToolSpec, arguments: dict[str, JsonValue], context: CallContext) -> dict[str, Any]:
        if tool.name not in self._arguments:
            self._arguments[tool.name] = arguments_type(tool.arguments)
        record_type = self._arguments[tool.name]
        return {
            "principal": {"type": AGENT_TYPE, "id": self._agent.name},
            "action": {"type": ACTION_TYPE, "id": tool.name},
            "resource": {"type": TOOL_TYPE, "id": tool.name},
            "context": {
                "arguments": _value(arguments, record_type),
                "taint": {
                    "untrusted": context.inputs_untrusted or context.read_untrusted,
                    "inputs_untrusted": context.inputs_untrusted,
                    "read_untrusted": context.read_untrusted,
                    "flagged": context.flagged,
                },
                "prior": _prior(tool.name, arguments, record_type, context.prior_calls),
            },
        }


def _names(text: str, key: str) -> bool:
    """Whether a diagnostics entry (a policy key, or an error message naming it) is about policy `key`."""
    return text == key or f"`{key}`" in text or f"policy {key}" in text


def _value(value: JsonValue, cedar: dict[str, Any]) -> Any:
    """A validated JSON value as its Cedar type says (fields without a Cedar type, and nulls, left out)."""
    kind = cedar["type"]
    if kind == "Record":
        if not isinstance(value, dict):
            raise ValueError("a record was expected")
        attributes = cedar["attributes"]
        return {
            name: _value(value[name], attributes[name])
            for name in attributes
            if name in value and value[name] is not None
        }
    if kind == "Set":
        if not isinstance(value, list):
            raise ValueError("a list was expected")
        return [_value(item, cedar["element"]) for item in value]
    if kind == "Long":
        if isinstance(value, bool) or not isinstance(value, int) or not _LONG_MIN <= value <= _LONG_MAX:
            raise ValueError("an integer beyond Cedar's 64 bits")
        return value
    return value


def _prior(tool: str, arguments: dict[str, JsonValue], record: dict[str, Any], prior: Sequence[PriorCall]) -> Any:
    calls = [call.arguments for call in prior if call.tool == tool]
    counted = _prior_type(record)["attributes"]
    same = {
        name: sum(1 for call in calls if arguments.get(name) is not None and call.get(name) == arguments.get(name))
        for name in counted["same"]["attributes"]
    }
    sums = {}
    for name in counted["sum"]["attributes"]:
        total = sum(v for call in calls if isinstance(v := call.get(name), int) and not isinstance(v, bool))
        if not _LONG_MIN <= total <= _LONG_MAX:
            raise ValueError(f"the sum of {name} is beyond Cedar's 64 bits")
        sums[name] = total
    return {"calls": len(calls), "same": same, "sum": sums}
