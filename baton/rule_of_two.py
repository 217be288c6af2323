"""The Rule of Two, checked when a catalog loads: no agent combines all three of

(A) untrusted input: a context key that is untrusted workflow input or the output of an agent that may be
    untrusted (unless that agent's output model admits only schema-constrained values: enums, literals, patterns,
    numbers, booleans, which carry no instructions: the quarantined half of the dual-model pattern), parameters from
    a model planner that reads untrusted text, a tool whose output is untrusted, or a model reading untrusted values
    (fenced as data);
(B) sensitive data: a tool reading a resource not declared public (ResourceSpec.public); a secret a tool
    authenticates with is not data the agent reads, and an external service's data is (A), not (B);
(C) the power to change state or communicate out: a write or irreversible tool, or a tool with egress,

unless every one of its (C) tools is gated: an enforced, unconditional tool-call policy holds each such call for
a person (`@approval`) or refuses it outright (baton.policy.gated). Otherwise the catalog refuses to load; the
guide (docs/guide.md, "The Rule of Two") shows how to split such an agent (the dual-model pattern).

The classification comes from declarations only; at run time the taint rules of baton.tools still apply to every
call, whatever the class. This module also runs the other checks a catalog's policies need at load:
the policy files against the schema generated from the catalog (baton.policy), and no Express workflow with an
agent whose policies can require approval (an Express execution cannot wait for a person).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from baton.catalog import AgentSpec, Catalog, SideEffect, _constrained

# operations that return a resource's data (the IAM action's operation name starts with one of these)
_READ_OPERATIONS = ("Get", "BatchGet", "Query", "Scan", "Receive", "Select", "Describe", "List", "Download")


class RuleOfTwo(BaseModel):
    """An agent's Rule-of-Two classification, each part with the declarations that put it there (empty: not)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built at first use (see models.Strict)

    agent: str
    untrusted_input: list[str]  # (A)
    sensitive_data: list[str]  # (B)
    changes_state: list[str]  # (C)
    # the agent's (C) tools whose every call a policy holds for a person (or refuses)
    gated_tools: list[str]
    ungated_tools: list[str]  # its other (C) tools

    @property
    def classes(self) -> str:
        """ "A", "AC", "ABC", ..., or "-" for none."""
        found = "".join(
            letter
            for letter, reasons in zip(
                "ABC", (self.untrusted_input, self.sensitive_data, self.changes_state), strict=True
            )
            if reasons
        )
        return found or "-"

    @property
    def all_three(self) -> bool:
        return self.classes == "ABC"

    @property
    def allowed(self) -> bool:
        return not self.all_three or not self.ungated_tools

    def summary(self) -> str:
        """One line for people: "ABC, every C tool gated by approval", "AC", "-"."""
        if not self.all_three:
            return self.classes
        return "ABC, every C tool gated by approval" if self.allowed else "ABC, refused"


def _untrusted_outputs(catalog: Catalog) -> dict[str, list[str]]:
    """(A) of every agent: an agent whose input or tools may be untrusted produces untrusted output, which taints
    the agents reading it (a fixed point over the catalog's agents)."""
    found = {name: _declared_untrusted(catalog, agent) for name, agent in catalog.agents.items()}
    # only an agent another one reads can quarantine anything: the schema of the others is never needed
    read = {key for agent in catalog.agents.values() for key in agent.context_keys if key in catalog.agents}
    quarantined = {name for name in read if constrained_output(catalog.agents[name].output_model)}
    changed = True
    while changed:
        changed = False
        for agent in catalog.agents.values():
            for key in agent.context_keys:
                reason = f"context key {key!r} is the output of agent {key!r}, which may be untrusted"
                if key in quarantined:
                    continue  # schema-constrained values: no instructions can ride on them
                if key in catalog.agents and found[key] and reason not in found[agent.name]:
                    found[agent.name].append(reason)
                    changed = True
    for agent in catalog.agents.values():
        if agent.model is not None and found[agent.name]:
            found[agent.name].append("its model reads untrusted values (fenced as data)")
    return {name: sorted(set(reasons)) for name, reasons in found.items()}


def _declared_untrusted(catalog: Catalog, agent: AgentSpec) -> list[str]:
    """(A) from the agent's own declarations: its workflows' untrusted inputs, a model planner's params, its tools."""
    reasons: list[str] = []
    for workflow in catalog.workflows.values():
        if agent.name not in workflow.agents:
            continue
        inputs = set(workflow.input_model.model_fields)
        for key in agent.context_keys:
            if key in inputs and key not in workflow.trusted_input_keys and key not in catalog.agents:
                reasons.append(f"context key {key!r} is untrusted input of workflow {workflow.name!r}")
        planner_params = set(agent.input_model.model_fields) - set(agent.context_keys)
        if planner_params and workflow.planner_model is not None and workflow.planner_sees_untrusted == "fenced":
            reasons.append(
                f"its parameters {sorted(planner_params)} come from workflow {workflow.name!r}'s model planner, "
                "which reads untrusted text"
            )
    reasons += [f"tool {t.name!r} returns untrusted output" for t in catalog.tools_of(agent) if not t.output_trusted]
    return reasons


@cache  # a class's schema does not change, and a merged catalog asks again about each of its parts' agents
def constrained_output(model: type[BaseModel]) -> bool:
    """Whether every value the model admits is schema-constrained (no free text anywhere in it)."""
    schema = model.model_json_schema(mode="serialization")
    return _all_constrained(schema, schema.get("$defs", {}))


def _all_constrained(schema: dict[str, Any], defs: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return _all_constrained(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    variants = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if variants:
        return all(_all_constrained(v, defs) for v in variants)
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        return (
            bool(properties)
            and not schema.get("additionalProperties")
            and all(_all_constrained(p, defs) for p in properties.values())
        )
    if schema.get("type") == "array":
        return _all_constrained(schema.get("items", {}), defs)
    return _constrained(schema)


def _sensitive(catalog: Catalog, agent: AgentSpec) -> list[str]:
    reasons: set[str] = set()
    for tool in catalog.tools_of(agent):
        for grant in tool.grants:
            resource = catalog.resources[grant.resource.name]
            if resource.public:
                continue
            reads = tool.side_effect is SideEffect.READ or any(
                action.partition(":")[2].startswith(_READ_OPERATIONS) for action in grant.actions
            )
            if reads:
                reasons.add(f"tool {tool.name!r} reads {resource.kind.value} {resource.name!r} (not declared public)")
    return sorted(reasons)


def _state_changes(catalog: Catalog, agent: AgentSpec) -> dict[str, str]:
    found: dict[str, str] = {}
    for tool in catalog.tools_of(agent):
        if tool.side_effect is not SideEffect.READ:
            found[tool.name] = f"tool {tool.name!r} is {tool.side_effect.value}"
        elif tool.egress:
            found[tool.name] = f"tool {tool.name!r} reaches {', '.join(tool.egress)}"
    return found


def classify_all(catalog: Catalog) -> dict[str, RuleOfTwo]:
    """Every agent's classification (what `baton workflows` shows and the inventory stores)."""
    untrusted = _untrusted_outputs(catalog)
    result: dict[str, RuleOfTwo] = {}
    for agent in catalog.agents.values():
        changes = _state_changes(catalog, agent)
        sensitive = _sensitive(catalog, agent)
        gated: list[str] = []
        if untrusted[agent.name] and sensitive and changes and agent.policies is not None:
            from baton.policy import gated as is_gated

            gated = [tool for tool in changes if is_gated(catalog, agent.name, tool)]
        result[agent.name] = RuleOfTwo(
            agent=agent.name,
            untrusted_input=untrusted[agent.name],
            sensitive_data=sensitive,
            changes_state=[changes[tool] for tool in sorted(changes)],
            gated_tools=sorted(gated),
            ungated_tools=sorted(set(changes) - set(gated)),
        )
    return result


def classify(catalog: Catalog, agent: str) -> RuleOfTwo:
    catalog.agent(agent)  # an unknown agent is a CatalogError
    return classify_all(catalog)[agent]


def catalog_problems(catalog: Catalog) -> list[str]:
    """What build_catalog refuses beyond its own checks: invalid policies, Rule-of-Two agents, Express workflows
    that a policy could make wait for a person."""
    from baton import policy

    if catalog.policy_files():
        found = policy.problems(catalog)
        if found:
            return found
    problems: list[str] = []
    for verdict in classify_all(catalog).values():
        if not verdict.allowed:
            problems.append(
                f"agent {verdict.agent!r} breaks the Rule of Two: it combines untrusted input "
                f"({'; '.join(verdict.untrusted_input)}), sensitive data ({'; '.join(verdict.sensitive_data)}) "
                f"and state change or egress ({'; '.join(verdict.changes_state)}): gate each of "
                f"{verdict.ungated_tools} with an unconditional @approval policy, or split the agent in two "
                "(docs/guide.md, 'The Rule of Two')"
            )
    for workflow in catalog.workflows.values():
        if workflow.execution != "express":
            continue
        for name in workflow.agents:
            if catalog.agents[name].policies is not None and policy.can_require_approval(catalog, name):
                problems.append(
                    f"express workflow {workflow.name!r} uses agent {name!r}, whose policies can require approval: "
                    "an Express execution cannot wait for a person (use execution='standard')"
                )
    return problems
