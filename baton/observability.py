"""Powertools logger, tracer and metrics shared by every function; the run id is the correlation id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import IO

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from baton.redaction import RedactingFilter

NAMESPACE = "Baton"

logger = Logger(service="baton")
logger.addFilter(RedactingFilter())
tracer = Tracer(service="baton")


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
