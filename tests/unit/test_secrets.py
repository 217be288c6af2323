"""The secrets broker hands out clean values, registers them for redaction, and nothing logs them on the way."""

from __future__ import annotations

import http.client
import io
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from baton.redaction import MASK, WIRE_LOGGERS, DropWireDebug, Redactor
from baton.secrets import MIN_SECRET_LENGTH, SecretsBroker, SecretUnavailable

SECRET_ID = "prod/payments/api-key"


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def broker_for(client: Any, redactor: Redactor) -> SecretsBroker:
    return SecretsBroker(lambda: client, {"payment_api_key": SECRET_ID}, max_age_seconds=0, redactor=redactor)


def test_a_secret_with_a_trailing_newline_never_reaches_the_audit_text(secretsmanager: Any) -> None:
    # Given a key stored from a file (`--secret-string file://key.txt` keeps the file's trailing newline)
    key = secrets.token_urlsafe(24)
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=f"{key}\n")
    redactor = Redactor()
    # When a tool reads it through the broker and sends it in a header
    value = broker_for(secretsmanager, redactor).get("payment_api_key")
    connection = http.client.HTTPConnection("api.example.com")  # putrequest/putheader open no socket
    connection.putrequest("POST", "/v1/charges")
    connection.putheader("Authorization", f"Bearer {value}")
    # Then the value handed out is the stripped one, which http.client accepts
    assert value == key
    # and had the raw value been used, the error http.client raises (with the header's repr) is masked
    with pytest.raises(ValueError, match="Invalid header value") as raised:
        connection.putheader("Authorization", f"Bearer {key}\n")
    audit_text = redactor.redact(f"{type(raised.value).__name__}: {raised.value}")
    assert audit_text == f"ValueError: Invalid header value b'Bearer {MASK}\\n'"


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\r", "\x7f", "\x85", "\u2028"])
def test_a_secret_with_an_inner_control_character_is_refused_without_naming_its_value(
    secretsmanager: Any, control: str
) -> None:
    # Given a secret with a control character inside it
    key = secrets.token_urlsafe(12) + control + secrets.token_urlsafe(12)
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=key)
    redactor = Redactor()
    # When a tool asks for it
    with pytest.raises(SecretUnavailable) as refused:
        broker_for(secretsmanager, redactor).get("payment_api_key")
    # Then it is refused, the error names the secret and says why, and holds no part of the value
    message = str(refused.value)
    assert "'payment_api_key'" in message
    assert "control character" in message
    assert key[:8] not in message
    assert key[-8:] not in message
    # and a refused value is not registered either (it was never handed out)
    assert redactor.redact(key) == key


def test_a_secret_short_once_stripped_is_refused(secretsmanager: Any) -> None:
    # Given a secret whose text is long only because of surrounding whitespace
    secretsmanager.create_secret(Name=SECRET_ID, SecretString="   short-key1\n\n\n")
    # When a tool asks for it
    # Then it is refused for its length, without its value
    with pytest.raises(SecretUnavailable, match=f"at least {MIN_SECRET_LENGTH} characters") as refused:
        broker_for(secretsmanager, Redactor()).get("payment_api_key")
    assert "short-key1" not in str(refused.value)


def test_the_value_registered_is_the_stripped_one(secretsmanager: Any) -> None:
    # Given a secret stored with surrounding whitespace
    key = secrets.token_urlsafe(24)
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=f"\t {key} \r\n")
    redactor = Redactor()
    # When the broker hands it out
    value = broker_for(secretsmanager, redactor).get("payment_api_key")
    # Then the stripped value is masked wherever it appears, whitespace or not around it
    assert value == key
    assert redactor.redact(f"key=[{key}]") == f"key=[{MASK}]"


def test_an_unconfigured_secret_is_refused_before_any_aws_call() -> None:
    # Given a broker whose client factory must not be called
    def no_client() -> Any:
        raise AssertionError("the broker created a client for a secret it does not know")

    broker = SecretsBroker(no_client, {})
    # When a tool asks for a secret the function is not configured with
    # Then it is refused by name
    with pytest.raises(SecretUnavailable, match="'vault_key' is not configured"):
        broker.get("vault_key")


@pytest.fixture
def debug_capture() -> Iterator[io.StringIO]:
    # a user who turns everything up to DEBUG, on the root logger, botocore and its wire loggers, with a handler
    # added after Baton's import (so no RedactingFilter of ours is on it)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    names = ["", "botocore", "urllib3", *WIRE_LOGGERS]
    levels = {name: logging.getLogger(name).level for name in names}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def read_through_broker(value: str) -> str:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name=SECRET_ID, SecretString=value)
        # a redactor of its own: what protects the value here is the dropped records, not the masking
        return broker_for(client, Redactor()).get("payment_api_key")


def test_botocore_debug_logs_never_carry_a_secret_value(debug_capture: io.StringIO) -> None:
    # Given everything logging at DEBUG into a plain handler
    key = secrets.token_urlsafe(24)
    # When a secret is read through the broker (moto answers GetSecretValue)
    assert read_through_broker(key) == key
    # Then botocore did log, at DEBUG, but no record carried the value
    captured = debug_capture.getvalue()
    assert any(line.startswith("botocore.") and " DEBUG " in line for line in captured.splitlines()), (
        "botocore logged nothing at DEBUG: the check would be vacuous"
    )
    assert key not in captured
    assert key[:8] not in captured


def test_without_the_wire_filters_botocore_would_log_the_secret(debug_capture: io.StringIO) -> None:
    # Given the same DEBUG setup, with the wire loggers' filters taken off (what the filters guard against)
    removed = []
    for name in WIRE_LOGGERS:
        wire_logger = logging.getLogger(name)
        for existing in list(wire_logger.filters):
            if isinstance(existing, DropWireDebug):
                wire_logger.removeFilter(existing)
                removed.append((wire_logger, existing))
    assert removed
    key = secrets.token_urlsafe(24)
    try:
        # When a secret is read through the broker
        read_through_broker(key)
    finally:
        for wire_logger, existing in removed:
            wire_logger.addFilter(existing)
    # Then botocore's response body log holds the value: the test above checks a real leak path
    assert key in debug_capture.getvalue()
