r"""The catalog's patterns, rewritten to compile faster, accept exactly the names they accepted as first written,
read with ASCII classes: \d and \w are Unicode classes in pydantic-core's regex (and Python's), which let an account
id in Arabic-Indic digits or a role name in accented letters through to AWS."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from baton import catalog, models
from baton.catalog import DottedPath, InjectionGuardrail, ModelSpec, PolicyFile, RoleArn
from baton.models import ExecutionId

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def strings(alphabet: str, longest: int, suffix: str = "") -> Iterator[str]:
    for length in range(longest + 1):
        for letters in itertools.product(alphabet, repeat=length):
            yield "".join(letters) + suffix


def accepted(declare: Callable[[str], object], value: str) -> bool:
    try:
        declare(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("field", "declare", "as_first_written", "candidates"),
    [
        (
            "a policy file's package",
            lambda v: PolicyFile(package=v),
            r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*",
            strings("aZ_9.é-", 4),
        ),
        (
            "a policy file's name",
            lambda v: PolicyFile(package="app", name=v),
            r"[\w-]+(/[\w-]+)*\.cedar",
            itertools.chain(strings("a-/é.", 4), strings("a-/é.", 4, ".cedar")),
        ),
        (
            "a model's guardrail version",
            lambda v: ModelSpec(model_id=MODEL, guardrail_id="g1", guardrail_version=v),
            r"DRAFT|\d{1,8}",
            itertools.chain(strings("01٣", 9), ["DRAFT", "DRAFT1", "draft", "1x"]),
        ),
        (
            "a guardrail detector's version",
            lambda v: InjectionGuardrail(guardrail_id="g1", guardrail_version=v),
            r"DRAFT|[1-9]\d{0,7}",
            itertools.chain(strings("01٣", 9), ["DRAFT", "DRAFT1", "draft", "1x"]),
        ),
    ],
)
def test_a_rewritten_pattern_accepts_exactly_what_it_accepted_as_first_written(
    field: str, declare: Callable[[str], object], as_first_written: str, candidates: Iterator[str]
) -> None:
    # Given every short string over letters, digits (a non-ASCII one too) and the separators the field knows
    # When each is declared as the field, Then it is accepted exactly when the pattern as first written, read with
    # ASCII classes, matched it
    differing = [
        value
        for value in candidates
        if accepted(declare, value) != bool(re.fullmatch(as_first_written, value, re.ASCII))
    ]
    assert differing == [], f"{field}: {differing[:5]}"


@pytest.mark.parametrize(
    ("what", "annotation", "honest", "forged"),
    [
        (
            "a role ARN's account id",
            RoleArn,
            "arn:aws:iam::123456789012:role/approver",
            "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/approver",
        ),
        (
            "a role ARN's role name",
            RoleArn,
            "arn:aws:iam::123456789012:role/approver",
            "arn:aws:iam::123456789012:role/approvér",
        ),
        (
            "an execution ARN's account id",
            ExecutionId,
            "arn:aws:states:us-east-1:123456789012:execution:baton-refund:refund_x",
            "arn:aws:states:us-east-1:١٢٣٤٥٦٧٨٩٠١٢:execution:baton-refund:refund_x",
        ),
        ("a dotted path", DottedPath, "refund_app.tools:get_order", "refund_app.tools:get_ordér"),
    ],
)
def test_non_ascii_digits_and_letters_are_refused_where_ascii_ones_are_accepted(
    what: str, annotation: Any, honest: str, forged: str
) -> None:
    # Given a field that ends in an AWS identifier or an import path, and a look-alike with Unicode digits or letters
    adapter: TypeAdapter[str] = TypeAdapter(annotation)
    # When both are validated, Then the ASCII one passes and the look-alike is refused
    assert adapter.validate_python(honest) == honest
    with pytest.raises(ValidationError):
        adapter.validate_python(forged)


def test_an_execution_arn_is_bounded_in_length() -> None:
    # Given an execution ARN padded far beyond any Step Functions name (the pattern no longer bounds the suffix)
    adapter: TypeAdapter[str] = TypeAdapter(ExecutionId)
    padded = "arn:aws:states:us-east-1:123456789012:execution:baton-refund:" + "x" * 512
    # When it is validated, Then it is refused
    with pytest.raises(ValidationError):
        adapter.validate_python(padded)


def _patterns(schema: object) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def test_no_pattern_of_the_catalog_or_the_run_models_uses_a_unicode_class() -> None:
    # Given every model the catalog and the run's messages declare
    declared = [
        value
        for module in (catalog, models)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__
    ]
    # When their patterns are read from their JSON schemas
    found = {
        (model.__name__, pattern)
        for model in declared
        for mode in ("validation", "serialization")
        for pattern in _patterns(model.model_json_schema(mode=mode))
    }
    # Then none spells \d, \w or \s (Unicode classes: slow to build, and too wide)
    assert found, "no pattern found: the scan reads nothing"
    assert [(name, p) for name, p in sorted(found) if re.search(r"\\[dws]", p)] == []
