"""The catalog's patterns, rewritten to compile faster, accept exactly the names they accepted as first written."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

import pytest
from pydantic import ValidationError

from baton.catalog import InjectionGuardrail, ModelSpec, PolicyFile

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
    # When each is declared as the field, Then it is accepted exactly when the pattern as first written matched it
    differing = [
        value for value in candidates if accepted(declare, value) != bool(re.fullmatch(as_first_written, value))
    ]
    assert differing == [], f"{field}: {differing[:5]}"
