"""Powertools logger, tracer and metrics shared by every function; the run id is the correlation id."""

from __future__ import annotations

import functools
import gc
import json
import logging
import numbers
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import IO, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from baton.redaction import REDACTOR, RedactingFilter, Redactor, install_log_redaction

NAMESPACE = "Baton"

__all__ = [
    "NAMESPACE",
    "TRACED_MODULES",
    "LazyTracer",
    "RedactingFormatter",
    "cold_start_ends",
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


# What a function's X-Ray trace records beyond its handler: every AWS call (botocore) and every HTTP request a
# tool makes (httplib, which the HTTP tools' transport uses). Of the other libraries X-Ray can patch, a function
# holds none but sqlite3, which no Baton function uses.
TRACED_MODULES = ("botocore", "httplib")


class LazyTracer:
    """Powertools' Tracer, built at the first invocation instead of at import.

    Building it imports the X-Ray SDK and patches what TRACED_MODULES names: in Lambda, X-Ray stays on from
    the first invocation (whose handler subsegment, AWS calls and annotations it records as before), but the
    import of a function's module no longer pays for it. Where tracing is off (outside Lambda, or
    POWERTOOLS_TRACE_DISABLED), annotations and metadata are dropped without building it, as Powertools' own
    disabled tracer drops them. Anything else is Powertools' Tracer's own attribute.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._tracer is not None

    def get(self) -> Tracer:
        """The Tracer itself (built now if it was not yet)."""
        if self._tracer is None:
            with self._lock:
                if self._tracer is None:
                    self._tracer = Tracer(service=self._service, patch_modules=TRACED_MODULES)
        return self._tracer

    def _off(self) -> bool:
        # Powertools' own test (POWERTOOLS_TRACE_DISABLED, or not in Lambda), without building a Tracer
        return self._tracer is None and bool(Tracer._is_tracer_disabled())

    def put_annotation(self, key: str, value: str | numbers.Number | bool) -> None:
        if not self._off():
            self.get().put_annotation(key=key, value=value)

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        if not self._off():
            self.get().put_metadata(key=key, value=value, namespace=namespace)

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any]) -> Callable[..., Any]:
        """Powertools' decorator, applied at the handler's first invocation, never recording the handler's response.

        Powertools records a handler's response as trace metadata by default: an agent's tool outputs, the
        orchestrator's scoped task payloads (untrusted input among them), unredacted (the log redaction never
        sees a trace), kept 30 days and readable by anyone the account lets read traces. The trace keeps the
        handler's subsegment, its AWS calls and the annotations; the response stays in the run's own record.
        """
        handler = lambda_handler
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def decorate(event: Any, context: Any, **kwargs: Any) -> Any:
            if not traced:
                traced.append(self.get().capture_lambda_handler(handler, capture_response=False))
            return traced[0](event, context, **kwargs)

        return decorate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


logger = Logger(service="baton", logger_formatter=RedactingFormatter())
logger.addFilter(RedactingFilter())  # a second line: the record's own text, before any handler sees it
tracer = LazyTracer(service="baton")
install_log_redaction()


def cold_start_ends(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Resumes the garbage collector once the first invocation of a Lambda handler has ended.

    Each handler module pauses the collector first thing when it is imported in Lambda (LAMBDA_TASK_ROOT set):
    a cold start allocates over a hundred thousand objects that nearly all stay alive (modules, classes,
    pydantic validators, botocore's service models), and the collections they trigger walk them again and again
    to free next to nothing (25-35 ms of a cold start, measured by benchmarks/coldstart_ablation.py). After the
    first invocation, what is alive is frozen (gc.freeze: later collections no longer walk the cold start's
    objects) and the collector runs as usual from then on; the little cyclic garbage the cold start left stays
    for the life of the process. Outside Lambda nothing is paused, so nothing is resumed.
    """

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if not gc.isenabled() and os.environ.get("LAMBDA_TASK_ROOT"):
                gc.freeze()
                gc.enable()

    return run


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
