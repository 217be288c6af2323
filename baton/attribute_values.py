"""DynamoDB attribute values of the items Baton stores, both ways: strings, whole numbers and booleans.

Hand-written rather than boto3's TypeSerializer and TypeDeserializer: those two classes are all of boto3 that the
state store and the audit archiver would use, and importing them imports boto3 and s3transfer, about 12 ms of every
cold start of the orchestrator, the API and the archiver (botocore makes their clients). A Baton item holds these
three types only (JSON text, counters and epoch seconds, flags), and the state machine writes strings and numbers:
any other type is refused, never guessed. For every value they take, the attribute values are boto3's
(tests/unit/test_attribute_values.py compares them), numbers through DynamoDB's own decimal context.
"""

from __future__ import annotations

from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# how DynamoDB holds a number (38 significant digits): what boto3.dynamodb.types.DYNAMODB_CONTEXT is
_NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])

Stored = str | int | bool


class UnsupportedAttribute(TypeError):
    """A value, or an attribute value, of a type no Baton item holds."""


def to_attribute(value: Stored) -> dict[str, Any]:
    if isinstance(value, bool):  # first: a bool is an int
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(_NUMBERS.create_decimal(value))}  # one DynamoDB would round raises (decimal.Rounded)
    if isinstance(value, str):
        return {"S": value}
    raise UnsupportedAttribute(f"a Baton item holds strings, whole numbers and booleans, not {type(value).__name__}")


def from_attribute(attribute: dict[str, Any]) -> str | Decimal | bool:
    """A number comes back as a Decimal, as boto3's TypeDeserializer gives it."""
    if len(attribute) == 1:
        ((kind, value),) = attribute.items()
        if kind == "S" and isinstance(value, str):
            return value
        if kind == "N" and isinstance(value, str):
            return _NUMBERS.create_decimal(value)
        if kind == "BOOL" and isinstance(value, bool):
            return value
    raise UnsupportedAttribute(f"not a string, number or boolean attribute value: types {sorted(attribute)}")


def to_item(plain: dict[str, Stored]) -> dict[str, dict[str, Any]]:
    return {name: to_attribute(value) for name, value in plain.items()}


def from_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each value a str, Decimal or bool (whichever the caller knows its attribute to be)."""
    return {name: from_attribute(value) for name, value in item.items()}
