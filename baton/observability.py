"""Powertools logger, tracer and metrics shared by every function; the run id is the correlation id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import IO, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from baton.redaction import REDACTOR, RedactingFilter, Redactor, install_log_redaction

NAMESPACE = "Baton"

__all__ = [
    "NAMESPACE",
    "RedactingFormatter",
    "correlated",
    "count",
    "install_log_redaction",
    "logger",
    "logs_to",
    "tracer",
]


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, masking registered values in the whole serialized line.

    Masking after serialization covers everything the line carries (message, `extra=` fields, exception text,
    stack trace) in the form it is written, JSON escapes included. A mask cutting through an escape would break
    the line; then each string of the record is masked on its own and the record serialized again.
    """

    def __init__(self, *args: Any, redactor: Redactor = REDACTOR, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        masked = self._redactor.redact(line)
        if masked is line:
            return line
        try:
            json.loads(masked)
        except ValueError:
            return self.serialize(log=self._redactor.redact_json(json.loads(line)))
        return masked


logger = Logger(service="baton", logger_formatter=RedactingFormatter())
logger.addFilter(RedactingFilter())  # a second line: the record's own text, before any handler sees it
tracer = Tracer(service="baton")
install_log_redaction()


@contextmanager
def correlated(run_id: str, **keys: str | int) -> Iterator[None]:
    """Every log line inside carries the run id; thread-safe, so concurrent tasks offline keep theirs apart."""
    logger.thread_safe_append_keys(correlation_id=run_id, run_id=run_id, **keys)
    tracer.put_annotation(key="run_id", value=run_id)
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()


def count(name: str, workflow: str, value: int = 1) -> None:
    """Emit one metric (EMF) with the workflow as dimension; single_metric is safe across threads."""
    if value <= 0:
        return
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"workflow": workflow},
    ):
        pass


@contextmanager
def logs_to(stream: IO[str]) -> Iterator[None]:
    """Offline: the functions' JSON logs and EMF metrics (printed) go to `stream`, not the terminal."""
    handler = logger.registered_handler
    previous = handler.setStream(stream) if isinstance(handler, logging.StreamHandler) else None
    try:
        with redirect_stdout(stream):
            yield
    finally:
        if isinstance(handler, logging.StreamHandler) and previous is not None:
            handler.setStream(previous)
