"""The IAM policy evaluator the infrastructure tests judge policies with: baton.iam_eval (the permissions report
uses it too), re-exported under the name these tests have always imported."""

from __future__ import annotations

from baton.iam_eval import (
    CONDITION_KEYS,
    ContextValue,
    Decision,
    EvaluationError,
    Grantee,
    IncompleteRequest,
    Request,
    UnsupportedPolicy,
    evaluate,
    evaluate_resource_policy,
    kms_authorizes,
    validate,
)

__all__ = [
    "CONDITION_KEYS",
    "ContextValue",
    "Decision",
    "EvaluationError",
    "Grantee",
    "IncompleteRequest",
    "Request",
    "UnsupportedPolicy",
    "evaluate",
    "evaluate_resource_policy",
    "kms_authorizes",
    "validate",
]
