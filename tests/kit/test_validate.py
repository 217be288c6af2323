"""baton.validate's one-line formatting: the field and what was expected, never the value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from baton.catalog import CatalogError
from baton.validate import catalog_problems, describe_exception, describe_validation_error

ROOT = Path(__file__).resolve().parents[2]
CLI_SIDE = {"baton.cli", "baton.validate", "baton.graph", "baton.scaffold", "baton.testing"}


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(pattern=r"^SKU-\d+$")
    count: int = Field(gt=0, le=10)


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(pattern=r"^ORD-\d{4,10}$")
    currency: Literal["USD", "EUR"]
    note: str = Field(default="", max_length=5)
    items: list[Item] = Field(default_factory=list)
    code: str = ""

    @field_validator("code")
    @classmethod
    def _known(cls, value: str) -> str:
        if value and value != "OK":
            raise ValueError(f"unknown code {value}")
        return value


def errors_of(data: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Order.model_validate(data)
    return describe_validation_error(caught.value)


def test_each_field_says_what_it_expected() -> None:
    line = errors_of(
        {"order_id": "nope", "currency": "JPY", "note": "far too long", "items": [{"sku": "SKU-1", "count": 0}]}
    )
    assert line == (
        r"order_id: expected a string matching ^ORD-\d{4,10}$; currency: expected 'USD' or 'EUR'; "
        "note: expected at most 5 characters; items[0].count: expected a number greater than 0"
    )


def test_missing_extra_and_wrong_types() -> None:
    assert errors_of({"currency": "USD", "bonus\u001b[2J": 1, "items": "x"}) == (
        "order_id: field required; items: expected a list; "
        "bonus\\x1b[2J: unexpected field (the model allows no other fields)"
    )
    assert errors_of([1, 2]) == "(input): expected an object"


def test_a_validators_message_never_repeats_the_value() -> None:
    line = errors_of({"order_id": "ORD-1234", "currency": "USD", "code": "sk_live_123456"})
    assert line == "code: Value error, unknown code ***"


def test_many_errors_are_cut_to_one_line() -> None:
    line = errors_of({"items": [{"sku": 1, "count": "x"}] * 4})
    assert line.endswith("items[1].sku: expected a string; and 5 more")
    assert "\n" not in line


def test_catalog_problems_are_listed_one_by_one() -> None:
    assert catalog_problems(CatalogError("invalid catalog: a is wrong; b is wrong")) == ["a is wrong", "b is wrong"]
    assert catalog_problems(CatalogError("something else")) == ["something else"]


def test_an_exception_is_one_line_with_where_it_was_raised() -> None:
    try:
        raise KeyError("missing\nkey")
    except KeyError as error:
        line = describe_exception(error)
    assert line.startswith("KeyError: 'missing\\nkey' (")
    assert "tests/kit/test_validate.py:" in line


def test_no_lambda_handler_imports_the_cli_side_modules() -> None:
    # Given each function's handler module, imported as Lambda imports it
    handlers = sorted(
        f"baton.functions.{path.parent.name}.handler" for path in (ROOT / "functions").glob("*/handler.py")
    )
    assert {"baton.functions.agent.handler", "baton.functions.orchestrator.handler"} <= set(handlers)
    code = (
        "import importlib, sys\n"
        f"for name in {handlers!r}:\n    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m in {sorted(CLI_SIDE)!r} or m.startswith('baton.scaffold')))"
    )
    # Then none of the CLI's checks, graph, scaffold or test helpers is loaded: a function never pays for them
    result = subprocess.run(  # noqa: S603 (fixed command)
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
