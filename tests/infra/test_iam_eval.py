"""The test IAM evaluator itself: IAM's Allow semantics where it answers, an exception wherever it cannot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.iam_eval import (
    Decision,
    IncompleteRequest,
    Request,
    UnsupportedPolicy,
    evaluate,
    evaluate_resource_policy,
    kms_authorizes,
)

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:agent"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/orchestrator"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def leading(*patterns: str) -> dict[str, Any]:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}


def decide(document: dict[str, Any], action: str, resource: str, **context: Any) -> Decision:
    return evaluate(document, Request(action, resource, {k.replace("__", ":"): v for k, v in context.items()}))


# ---------------------------------------------------------------- actions and resources


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("dynamodb:GetItem", "dynamodb:GetItem", True),
        ("dynamodb:GetItem", "DynamoDB:getitem", True),  # actions are case-insensitive
        ("dynamodb:GetItem", "dynamodb:GetItems", False),
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:Get*", "dynamodb:PutItem", False),
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:*", "dynamodb:Scan", True),
        ("dynamodb:*", "kms:Sign", False),
        ("*", "kms:Sign", True),
    ],
)
def test_actions_match_exactly_or_by_wildcard(pattern: str, action: str, expected: bool) -> None:
    assert (decide(policy(allow(pattern, "*")), action, TABLE) is Decision.ALLOW) is expected


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        (TABLE, TABLE, True),
        (TABLE, TABLE + "-other", False),
        (TABLE, TABLE.upper(), False),  # ARNs are case-sensitive
        (TABLE, TABLE + "/index/byDate", False),
        (TABLE + "/index/*", TABLE + "/index/byDate", True),
        (f"arn:aws:dynamodb:*:{ACCOUNT}:table/st?te", TABLE, True),
        (FUNCTION, FUNCTION + ":1", False),
        (FUNCTION + ":*", FUNCTION + ":1", True),
        (FUNCTION + ":*", FUNCTION, False),
        # a `*` inside a segment stays in it; one ending a segment may run past colons
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ag*t", FUNCTION, True),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:a*:live", FUNCTION + ":x:live", True),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:a*t:live", FUNCTION + ":x:live", False),
        (
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:g:*",
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:g:log-stream:s",
            True,
        ),
        ("arn:aws:s3:::bucket/audit/*", "arn:aws:s3:::bucket/audit/relay/run/1.json", True),
        ("arn:aws:s3:::bucket/audit/*", "arn:aws:s3:::bucket/other/1.json", False),
        ("arn:aws:s3:::bucket[0-9]", "arn:aws:s3:::bucket1", False),  # no character classes
        ("*", TABLE, True),
    ],
)
def test_resources_match_as_iam_matches_arns(pattern: str, arn: str, expected: bool) -> None:
    assert (decide(policy(allow("dynamodb:GetItem", pattern)), "dynamodb:GetItem", arn) is Decision.ALLOW) is expected


def test_nothing_matching_is_an_implicit_deny_and_an_explicit_deny_wins() -> None:
    document = policy(
        allow("dynamodb:GetItem", TABLE),
        {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": TABLE, "Condition": leading("RUN#*")},
    )
    assert decide(document, "dynamodb:PutItem", TABLE, dynamodb__LeadingKeys=["TASK#r"]) is Decision.IMPLICIT_DENY
    assert decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=["TASK#r"]) is Decision.ALLOW
    assert decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=["RUN#r"]) is Decision.EXPLICIT_DENY


# ---------------------------------------------------------------- conditions


def test_for_all_values_string_like_scopes_leading_keys() -> None:
    document = policy(allow(["dynamodb:GetItem", "dynamodb:Query"], TABLE, leading("RUN#relay_*", "TASK#relay_*")))

    def keys(*values: str) -> Decision:
        return decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=list(values))

    assert keys("RUN#relay_1") is Decision.ALLOW
    assert keys("RUN#relay_1", "TASK#relay_2") is Decision.ALLOW  # every value matches one pattern
    assert keys("RUN#relay_1", "RUN#payout_1") is Decision.IMPLICIT_DENY  # one value matches none
    assert keys("RUN#relay-express_1") is Decision.IMPLICIT_DENY  # "_" ends the workflow name
    assert keys("JOURNAL#relay_1") is Decision.IMPLICIT_DENY
    # IAM's ForAllValues is true of a request without the key: the evaluator says so rather than hide it
    assert decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=None) is Decision.ALLOW
    assert keys() is Decision.ALLOW


def test_for_any_value_needs_one_matching_value() -> None:
    document = policy(allow("dynamodb:GetItem", TABLE, {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": "A"}}))
    assert decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=["B", "A"]) is Decision.ALLOW
    assert decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=["B"]) is Decision.IMPLICIT_DENY
    assert decide(document, "dynamodb:GetItem", TABLE, dynamodb__LeadingKeys=None) is Decision.IMPLICIT_DENY


def test_single_valued_operators() -> None:
    equals = policy(allow("kms:Sign", "*", {"StringEquals": {"aws:PrincipalArn": [ROLE, ROLE + "2"]}}))
    assert decide(equals, "kms:Sign", "*", aws__PrincipalArn=ROLE) is Decision.ALLOW
    assert decide(equals, "kms:Sign", "*", aws__PrincipalArn=ROLE + "3") is Decision.IMPLICIT_DENY
    assert decide(equals, "kms:Sign", "*", aws__PrincipalArn=ROLE.upper()) is Decision.IMPLICIT_DENY
    assert decide(equals, "kms:Sign", "*", aws__PrincipalArn=None) is Decision.IMPLICIT_DENY  # not carried
    like = policy(allow("kms:Sign", "*", {"StringLike": {"aws:PrincipalArn": "*:role/orch*"}}))
    assert decide(like, "kms:Sign", "*", aws__PrincipalArn=ROLE) is Decision.ALLOW
    arn_like = policy(allow("sqs:SendMessage", "*", {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/r*"}}))
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/reconcile"
    assert decide(arn_like, "sqs:SendMessage", "*", aws__SourceArn=rule) is Decision.ALLOW
    assert (
        decide(arn_like, "sqs:SendMessage", "*", aws__SourceArn=rule.replace("rule/", "bus/")) is Decision.IMPLICIT_DENY
    )
    tls = policy(
        {"Effect": "Deny", "Action": "sqs:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    )
    assert decide(tls, "sqs:SendMessage", "*", aws__SecureTransport=False) is Decision.EXPLICIT_DENY
    assert decide(tls, "sqs:SendMessage", "*", aws__SecureTransport=True) is Decision.IMPLICIT_DENY


def test_every_operator_key_and_value_of_a_block_must_hold() -> None:
    document = policy(
        allow(
            "dynamodb:PutItem",
            TABLE,
            {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": "START#*"},
                "StringEquals": {"aws:PrincipalArn": ROLE, "aws:SourceAccount": ACCOUNT},
            },
        )
    )
    context = {"dynamodb:LeadingKeys": ["START#a"], "aws:PrincipalArn": ROLE, "aws:SourceAccount": ACCOUNT}
    assert evaluate(document, Request("dynamodb:PutItem", TABLE, context)) is Decision.ALLOW
    for key, wrong in (
        ("dynamodb:LeadingKeys", ["RUN#a"]),
        ("aws:PrincipalArn", ROLE + "x"),
        ("aws:SourceAccount", "1"),
    ):
        changed = {**context, key: wrong}
        assert evaluate(document, Request("dynamodb:PutItem", TABLE, changed)) is Decision.IMPLICIT_DENY, key


# ---------------------------------------------------------------- what it refuses to guess


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"aws:PrincipalArn": ROLE}},  # an operator it does not implement
        {"StringEqualsIgnoreCase": {"aws:PrincipalArn": ROLE}},
        {"StringLikeIfExists": {"aws:PrincipalArn": ROLE}},
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"ForAllValues:StringLike": {"dynamodb:Attributes": ["pk"]}},  # a key it does not implement
        {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
        {"StringEquals": {"dynamodb:LeadingKeys": "RUN#a"}},  # single-valued operator on a multivalued key
        {"ForAllValues:StringEquals": {"aws:PrincipalArn": ROLE}},  # set operator on a single-valued key
        {"Null": {"aws:PrincipalArn": "false"}},
        {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:username}"}},  # a policy variable
    ],
)
def test_an_unknown_condition_raises_instead_of_deciding(condition: dict[str, Any]) -> None:
    document = policy(allow("dynamodb:GetItem", TABLE, condition))
    context = {"dynamodb:LeadingKeys": ["RUN#a"], "aws:PrincipalArn": ROLE}
    # Then neither a matching nor a non-matching request gets an answer
    with pytest.raises(UnsupportedPolicy):
        evaluate(document, Request("dynamodb:GetItem", TABLE, context))
    with pytest.raises(UnsupportedPolicy):
        evaluate(document, Request("kms:Sign", "*", context))


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::${aws:userid}/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "bucket/*"},
        {"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject"},
    ],
)
def test_an_unknown_element_raises(statement: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPolicy):
        evaluate(policy(statement), Request("s3:GetObject", "arn:aws:s3:::b/k"))


def test_a_request_silent_about_a_condition_key_raises() -> None:
    document = policy(allow("dynamodb:GetItem", TABLE, leading("RUN#*")))
    with pytest.raises(IncompleteRequest):
        evaluate(document, Request("dynamodb:GetItem", TABLE))
    with pytest.raises(IncompleteRequest):  # a set where a list is expected is a test's mistake, not a deny
        evaluate(document, Request("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": "RUN#a"}))


# ---------------------------------------------------------------- resource policies and KMS


def key_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    return policy(*({**s, "Principal": s.get("Principal", root)} for s in statements))


def test_a_key_policy_naming_the_account_needs_the_identity_policy_too() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    keys = key_policy(allow("kms:Sign", "*", {"StringEquals": {"aws:PrincipalArn": ROLE}}))
    signer = policy(allow("kms:Sign", key))
    other = f"arn:aws:iam::{ACCOUNT}:role/api"

    def sign(principal: str, identity: dict[str, Any]) -> bool:
        request = Request("kms:Sign", key, {"aws:PrincipalArn": principal}, principal=principal)
        return kms_authorizes(keys, identity, request)

    assert sign(ROLE, signer)
    assert not sign(ROLE, policy(allow("kms:Verify", key)))  # the key policy alone grants nothing to the account
    assert not sign(other, signer)  # the identity policy alone cannot pass the key policy's condition
    assert not sign(other, policy(allow("kms:*", "*")))
    outsider = "arn:aws:iam::999999999999:role/orchestrator"
    assert not sign(outsider, signer)


def test_resource_policy_principals() -> None:
    document = policy(
        allow("sqs:SendMessage", "*", Principal={"Service": "events.amazonaws.com"}),
        allow("sqs:ReceiveMessage", "*", Principal={"AWS": ROLE}),
        allow("sqs:DeleteMessage", "*", Principal={"AWS": ACCOUNT}),
    )
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"
    assert evaluate_resource_policy(document, Request("sqs:SendMessage", queue, principal="events.amazonaws.com")) == (
        Decision.ALLOW,
        "principal",
    )
    assert evaluate_resource_policy(document, Request("sqs:ReceiveMessage", queue, principal=ROLE))[0] is Decision.ALLOW
    assert evaluate_resource_policy(document, Request("sqs:DeleteMessage", queue, principal=ROLE)) == (
        Decision.ALLOW,
        "account",
    )
    assert (
        evaluate_resource_policy(document, Request("sqs:SendMessage", queue, principal=ROLE))[0]
        is Decision.IMPLICIT_DENY
    )
    with pytest.raises(UnsupportedPolicy):  # a Principal belongs to resource policies only
        evaluate(document, Request("sqs:SendMessage", queue))
    with pytest.raises(UnsupportedPolicy):
        evaluate_resource_policy(
            policy(allow("sqs:SendMessage", "*", Principal={"Federated": "x"})),
            Request("sqs:SendMessage", queue, principal=ROLE),
        )
