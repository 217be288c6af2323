"""Keeps secret values out of logs, audit records, outputs and error messages.

The secrets broker registers every value it hands out; `redact` replaces them wherever text leaves a
component, and `RedactingFilter` does the same for every log line as a second line of defence.
"""

from __future__ import annotations

import logging
import threading

MASK = "***"


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        # very short values would mask ordinary text; secrets that short are refused by the broker
        with self._lock:
            self._values.add(value)

    def redact(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text


REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = REDACTOR.redact(record.msg)
        if record.args:
            record.args = tuple(REDACTOR.redact(a) if isinstance(a, str) else a for a in record.args)
        return True
