"""A small IAM policy evaluator: does this policy, as deployed, allow this request?

The permissions report (baton.permissions) judges every AWS call an offline run made with it, and the tests judge
the synthesized and the moto-deployed policies with it (tests/infra/iam_eval.py re-exports it). Never shipped in a
Lambda function (baton.bundle leaves it out).

    evaluate(policy, Request("dynamodb:PutItem", table_arn, {"dynamodb:LeadingKeys": ["RUN#relay_x"]}))

It implements what Baton's policies use, as IAM defines it, and refuses everything else:

- Effect Allow and Deny (an explicit Deny wins; nothing matching is an implicit deny); Action and Resource as a
  string or a list.
- Actions: "service:Operation", case-insensitive, with `*` and `?` wildcards.
- Resources: "*", or ARNs matched segment by segment (case-sensitive): `*` and `?` stay within a
  colon-delimited segment, except a `*` that ends a segment, which may match past colons (IAM's rule).
- Conditions: StringEquals, StringLike, ArnEquals, ArnLike and Bool, and the set forms ForAllValues: and
  ForAnyValue: of the string operators, on the condition keys in CONDITION_KEYS. Operators in one block, and
  keys under one operator, must all match; the values of one key match if any does. A key the request does not
  carry (its value None in the context) makes a single-valued operator false, ForAllValues true and
  ForAnyValue false, as in IAM.
- Principal (resource policies only): "*", an ARN, an account ("123456789012" or its root ARN: the account's
  own identity policies must also allow, see `kms_authorizes`), or a service.

It RAISES, never guesses: an operator, a condition key, a policy element (NotAction, NotResource,
NotPrincipal, ...), a policy variable (`${...}`), a malformed ARN pattern, or a request that does not say
whether it carries a condition key the policy asks about (a key missing from the context; None means "not
carried"). An unknown condition is neither an allow nor a deny: a test that meets one must be extended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any, Literal

ContextValue = str | bool | Sequence[str] | None

# condition keys understood, in lower case (IAM compares key names case-insensitively), and their kind
KeyKind = Literal["string", "strings", "arn", "bool"]
CONDITION_KEYS: dict[str, KeyKind] = {
    "dynamodb:leadingkeys": "strings",  # multivalued: one partition key per item the request touches
    "aws:principalarn": "arn",
    "aws:sourcearn": "arn",
    "aws:sourceaccount": "string",
    "aws:securetransport": "bool",
}
STRING_OPERATORS = frozenset({"StringEquals", "StringLike"})
ARN_OPERATORS = frozenset({"ArnEquals", "ArnLike"})
SET_QUALIFIERS = frozenset({"ForAllValues", "ForAnyValue"})
STATEMENT_ELEMENTS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition", "Principal"})


class EvaluationError(Exception):
    """The evaluator cannot decide: never read as an allow or as a deny."""


class UnsupportedPolicy(EvaluationError):
    """The policy uses an element, operator, condition key or variable this evaluator does not implement."""


class IncompleteRequest(EvaluationError):
    """The policy asks about a condition key the request's context does not mention (None: not carried)."""


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    # resource policies only: the ARN of the calling principal, or a service ("events.amazonaws.com")
    principal: str | None = None

    def value(self, key: str) -> ContextValue:
        lowered = {name.lower(): value for name, value in self.context.items()}
        if key.lower() not in lowered:
            raise IncompleteRequest(
                f"the policy asks about {key!r}: say whether {self.action} on {self.resource} carries it "
                "(its value, or None for not carried)"
            )
        return lowered[key.lower()]


Grantee = Literal["principal", "account"]


# ---------------------------------------------------------------- public entry points


def evaluate(policy: Mapping[str, Any], request: Request) -> Decision:
    """An identity policy's decision on the request."""
    if request.principal is not None:
        raise UnsupportedPolicy("an identity policy is evaluated without a principal (it is the principal's own)")
    decision, _ = _evaluate(policy, request)
    return decision


def evaluate_resource_policy(policy: Mapping[str, Any], request: Request) -> tuple[Decision, Grantee | None]:
    """A resource policy's decision, and whom an Allow names: the principal itself, or its whole account
    (whose identity policies then decide too)."""
    if request.principal is None:
        raise UnsupportedPolicy("a resource policy is evaluated for a principal: set Request.principal")
    return _evaluate(policy, request)


def kms_authorizes(key_policy: Mapping[str, Any], identity_policy: Mapping[str, Any], request: Request) -> bool:
    """KMS's rule: the key policy must allow, either naming the principal, or naming the account (the key
    policy's root principal), in which case the principal's identity policy must allow too. A Deny in either
    refuses. Without the key policy's allow, no identity policy grants anything on a KMS key."""
    if request.principal is None:
        raise UnsupportedPolicy("set Request.principal (the caller's ARN) to evaluate a key policy")
    key_decision, grantee = _evaluate(key_policy, request)
    identity_decision = evaluate(identity_policy, Request(request.action, request.resource, request.context))
    if Decision.EXPLICIT_DENY in (key_decision, identity_decision) or key_decision is not Decision.ALLOW:
        return False
    return grantee == "principal" or identity_decision is Decision.ALLOW


def validate(policy: Mapping[str, Any]) -> None:
    """Raise UnsupportedPolicy unless every statement uses only what this evaluator implements."""
    for statement in _statements(policy):
        _validate_statement(statement)


# ---------------------------------------------------------------- evaluation


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement")
    if isinstance(statements, Mapping):
        return [statements]
    if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
        raise UnsupportedPolicy(f"a policy's Statement must be a statement or a list of them, not {statements!r}")
    return statements


def _evaluate(policy: Mapping[str, Any], request: Request) -> tuple[Decision, Grantee | None]:
    validate(policy)
    allowed: Grantee | None = None
    for statement in _statements(policy):
        grantee = _principal_grantee(statement, request)
        if grantee is None:
            continue
        if not any(_action_matches(pattern, request.action) for pattern in _strings(statement["Action"])):
            continue
        if not any(_arn_matches(pattern, request.resource) for pattern in _strings(statement["Resource"])):
            continue
        if not _conditions_hold(statement.get("Condition", {}), request):
            continue
        if statement["Effect"] == "Deny":
            return Decision.EXPLICIT_DENY, None
        if allowed != "principal":
            allowed = grantee
    return (Decision.ALLOW, allowed) if allowed is not None else (Decision.IMPLICIT_DENY, None)


def _validate_statement(statement: Mapping[str, Any]) -> None:
    unknown = set(statement) - STATEMENT_ELEMENTS
    if unknown:
        raise UnsupportedPolicy(f"statement {statement.get('Sid')!r} uses {sorted(unknown)}: not implemented")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedPolicy(f"statement {statement.get('Sid')!r} has Effect {statement.get('Effect')!r}")
    for element in ("Action", "Resource"):
        if element not in statement:
            raise UnsupportedPolicy(f"statement {statement.get('Sid')!r} has no {element}")
        for value in _strings(statement[element]):
            _no_variables(value)
    for pattern in _strings(statement["Action"]):
        if pattern != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+", pattern):
            raise UnsupportedPolicy(f"{pattern!r} is not an action pattern")
    for pattern in _strings(statement["Resource"]):
        if pattern != "*" and len(pattern.split(":", 5)) != 6:
            raise UnsupportedPolicy(f"resource {pattern!r} is neither '*' nor an ARN")
    _validate_conditions(statement.get("Condition", {}))


def _validate_conditions(conditions: Any) -> None:
    if not isinstance(conditions, Mapping):
        raise UnsupportedPolicy(f"Condition must be an object, not {conditions!r}")
    for operator, tests in conditions.items():
        qualifier, base = _operator(operator)
        if not isinstance(tests, Mapping) or not tests:
            raise UnsupportedPolicy(f"{operator} must map condition keys to values, not {tests!r}")
        for key, values in tests.items():
            kind = CONDITION_KEYS.get(str(key).lower())
            if kind is None:
                raise UnsupportedPolicy(f"condition key {key!r} is not implemented (known: {sorted(CONDITION_KEYS)})")
            _check_operator_fits_key(operator, qualifier, base, key, kind)
            for value in _condition_values(base, values):
                if isinstance(value, str):
                    _no_variables(value)


def _operator(operator: str) -> tuple[str | None, str]:
    qualifier, _, base = operator.rpartition(":")
    if qualifier and qualifier not in SET_QUALIFIERS:
        raise UnsupportedPolicy(f"condition operator {operator!r} is not implemented")
    if base not in STRING_OPERATORS | ARN_OPERATORS | {"Bool"}:
        raise UnsupportedPolicy(f"condition operator {operator!r} is not implemented")
    return qualifier or None, base


def _check_operator_fits_key(operator: str, qualifier: str | None, base: str, key: str, kind: KeyKind) -> None:
    if kind == "strings" and qualifier is None:
        raise UnsupportedPolicy(f"{key} is multivalued: {operator} needs ForAllValues: or ForAnyValue:")
    if kind != "strings" and qualifier is not None:
        raise UnsupportedPolicy(f"{key} is single-valued: {operator} is for multivalued keys")
    if (base == "Bool") != (kind == "bool"):
        raise UnsupportedPolicy(f"{operator} does not apply to {key}")
    if base in ARN_OPERATORS and kind != "arn":
        raise UnsupportedPolicy(f"{operator} applies to ARN keys, not {key}")


def _condition_values(base: str, values: Any) -> list[str | bool]:
    listed = values if isinstance(values, list) else [values]
    if base == "Bool":
        if not all(isinstance(v, bool) or v in ("true", "false") for v in listed):
            raise UnsupportedPolicy(f"Bool takes true or false, not {values!r}")
        return [v if isinstance(v, bool) else v == "true" for v in listed]
    if not listed or not all(isinstance(v, str) for v in listed):
        raise UnsupportedPolicy(f"{base} takes strings, not {values!r}")
    return list(listed)


def _conditions_hold(conditions: Mapping[str, Any], request: Request) -> bool:
    for operator, tests in conditions.items():
        qualifier, base = _operator(operator)
        for key, values in tests.items():
            if not _condition_holds(qualifier, base, _condition_values(base, values), request.value(key)):
                return False
    return True


def _condition_holds(qualifier: str | None, base: str, expected: list[str | bool], actual: ContextValue) -> bool:
    if qualifier is None:
        if actual is None:
            return False  # a single-valued operator on a key the request does not carry
        if base == "Bool":
            if not isinstance(actual, bool):
                raise IncompleteRequest(f"a Bool condition key needs a bool in the context, not {actual!r}")
            return actual in expected
        if not isinstance(actual, str):
            raise IncompleteRequest(f"a single-valued condition key needs a string in the context, not {actual!r}")
        return any(_value_matches(base, str(pattern), actual) for pattern in expected)
    if isinstance(actual, str | bool):
        raise IncompleteRequest(f"a multivalued condition key needs a list in the context, not {actual!r}")
    values = list(actual or [])
    matches = [any(_value_matches(base, str(pattern), value) for pattern in expected) for value in values]
    return all(matches) if qualifier == "ForAllValues" else any(matches)


def _value_matches(base: str, pattern: str, value: str) -> bool:
    if base == "StringEquals":
        return pattern == value
    if base == "StringLike":
        return _glob(pattern, colon_bound=False).fullmatch(value) is not None
    return _arn_matches(pattern, value)  # ArnEquals and ArnLike match alike in IAM


# ---------------------------------------------------------------- principals, actions, ARNs


def _principal_grantee(statement: Mapping[str, Any], request: Request) -> Grantee | None:
    """Whom the statement applies to, for this request: None if it does not apply."""
    if "Principal" not in statement:
        if request.principal is not None:
            raise UnsupportedPolicy(f"statement {statement.get('Sid')!r} of a resource policy names no Principal")
        return "principal"
    if request.principal is None:
        raise UnsupportedPolicy(f"statement {statement.get('Sid')!r} names a Principal: it is a resource policy")
    principal = statement["Principal"]
    if principal == "*":
        return "principal"
    if not isinstance(principal, Mapping) or not set(principal) <= {"AWS", "Service"}:
        raise UnsupportedPolicy(f"Principal {principal!r} is not implemented")
    for service in _strings(principal.get("Service", [])):
        if service == request.principal:
            return "principal"
    for named in _strings(principal.get("AWS", [])):
        if named in ("*", request.principal):
            return "principal"
        account = named if re.fullmatch(r"\d{12}", named) else _root_account(named)
        if account is not None and _account_of(request.principal) == account:
            return "account"
        if account is None and not named.startswith("arn:"):
            raise UnsupportedPolicy(f"AWS principal {named!r} is not implemented")
    return None


def _root_account(arn: str) -> str | None:
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):root", arn)
    return match.group(1) if match else None


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else None


def _action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern.lower(), colon_bound=False).fullmatch(action.lower()) is not None


def _arn_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: the first five segments one by one, then the resource part."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6:
        raise UnsupportedPolicy(f"{pattern!r} is not an ARN pattern")
    if len(given) != 6:
        return False
    return all(_glob(w, colon_bound=True).fullmatch(g) is not None for w, g in zip(wanted, given, strict=True))


@cache
def _glob(pattern: str, colon_bound: bool) -> re.Pattern[str]:
    """`*` any characters, `?` one; nothing else is special. With `colon_bound`, neither crosses a colon
    unless the `*` ends a colon-delimited segment."""
    parts = []
    for index, char in enumerate(pattern):
        if char == "*":
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append(".*" if not colon_bound or ends_segment else "[^:]*")
        elif char == "?":
            parts.append("[^:]" if colon_bound else ".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _strings(value: Any) -> list[str]:
    listed = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in listed):
        raise UnsupportedPolicy(f"expected a string or a list of strings, not {value!r}")
    return list(listed)


def _no_variables(value: str) -> None:
    if "${" in value:
        raise UnsupportedPolicy(f"{value!r} uses a policy variable: not implemented")
