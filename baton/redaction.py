"""Keeps secret values out of logs, audit records, outputs and error messages.

The secrets broker registers every value it hands out; `redact` replaces them wherever text leaves a
component, and the logging hooks below do the same for every log record as a second line of defence.

A value is masked in every form it commonly takes on its way out: raw, inside a repr() (str or bytes),
JSON-escaped, URL-encoded, base64 at any byte offset (HTTP Basic auth puts "user:" before it), hex, and any
piece of it at least `MIN_FRAGMENT` characters long (a truncated or split value).

How it stays fast. Every form is at least `MIN_FRAGMENT` (8) bytes long, so wherever it sits in a text it
covers a whole 4-byte block at a multiple of 4. Registration indexes, for each value, the 4-byte grams that
can fall on such a block: every gram of the value and of its escaped forms (any piece of 8 bytes covers one)
and the grams at offsets 0-3 of each other encoded form (one lands on a block whatever the form's alignment,
so the whole form is checked from there). `redact` reads the text's blocks as 32-bit integers and asks, in C,
whether any is an indexed gram: a text holding no secret (nearly every text) costs one encode and one set scan,
whatever the number of secrets. Only on a hit are the candidates verified and their spans masked.
"""

from __future__ import annotations

import base64
import json
import logging
import numbers
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus

MASK: Final = "***"
# a piece of a secret this long is masked wherever it appears; shorter pieces would mask ordinary text
MIN_FRAGMENT: Final = 8

_BLOCK = 4
_MASK_BYTES = MASK.encode()
if memoryview(bytes(_BLOCK)).cast("I").itemsize != _BLOCK:  # pragma: no cover - 4 on every platform Lambda runs
    raise ImportError("baton.redaction reads text as 4-byte unsigned ints; this platform's are another size")
# (pattern, offset of the gram in it, whether any long-enough piece of it counts)
_Entry = tuple[bytes, int, bool]
_Index = dict[int, tuple[_Entry, ...]]


def _gram_key(gram: bytes) -> int:
    return int.from_bytes(gram, sys.byteorder)


def _base64_cores(data: bytes) -> list[str]:
    """The part of base64(prefix + data + suffix) that depends on `data` alone, for prefixes of 0, 1 and 2 bytes.

    Byte k of the input starts at bit 8k; a character covers 6 bits. The characters overlapping the prefix or
    the suffix change with them, the others are the same wherever the value sits (HTTP Basic: "user:" + secret).
    """
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        first = -(-8 * offset // 6)  # first character made of the value's bits only
        last = (8 * (offset + len(data))) // 6  # one past the last one
        core = encoded[first:last]
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def _percent_lower(encoded: str) -> str:
    parts = encoded.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def escaped_forms(value: str) -> set[str]:
    """`value` as repr(), ascii(), a bytes repr and JSON write it, once or twice. These escape character by
    character, so a piece of the value, escaped, is a piece of one of them: their pieces are masked too."""
    raw = value.encode("utf-8", "surrogatepass")
    once = {
        value,
        repr(value)[1:-1],
        ascii(value)[1:-1],
        repr(raw)[2:-1],
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    # escaped twice: a repr inside a JSON log line, a JSON body inside another one or inside a repr
    twice = {json.dumps(form, ensure_ascii=False)[1:-1] for form in once}
    twice |= {json.dumps(form)[1:-1] for form in once} | {repr(form)[1:-1] for form in once}
    return once | twice


def encoded_forms(value: str) -> set[str]:
    """Every form of `value` the redactor masks: the escaped ones, hex, base64 at any offset, URL-encoded."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = escaped_forms(value) | {raw.hex(), raw.hex().upper(), *_base64_cores(raw)}
    for encoded in (quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)):
        forms |= {encoded, _percent_lower(encoded)}
    return {form for form in forms if len(form.encode("utf-8", "surrogatepass")) >= MIN_FRAGMENT}


def _json_leaves(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)
    elif isinstance(value, str):
        yield value.strip()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _sources(value: str) -> tuple[set[str], set[str]]:
    """(values masked in every encoded form, values whose every long-enough piece is masked too).

    A JSON object or array (Secrets Manager's usual shape for credentials) is masked whole in every form, and
    its leaves are the values: pieces of `{"username": ...` are structure, not secret, and masking them would
    mask every log line that mentions a username. Leaves shorter than MIN_FRAGMENT cannot be masked alone.
    """
    if value[:1] in ("{", "["):
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if isinstance(document, dict | list):
            leaves = {leaf for leaf in _json_leaves(document) if len(leaf) >= MIN_FRAGMENT}
            return {value, *leaves}, leaves
    return {value}, {value}


def _index_entries(value: str) -> list[tuple[int, _Entry]]:
    whole, pieces = _sources(value)
    piece_forms = set().union(*(escaped_forms(source) for source in pieces))
    exact_forms = set().union(*(encoded_forms(source) for source in whole)) - piece_forms
    entries: list[tuple[int, _Entry]] = []
    for form in piece_forms:
        data = form.encode("utf-8", "surrogatepass")
        entries += [(_gram_key(data[i : i + _BLOCK]), (data, i, True)) for i in range(len(data) - _BLOCK + 1)]
    for form in exact_forms:
        data = form.encode("utf-8", "surrogatepass")
        entries += [(_gram_key(data[i : i + _BLOCK]), (data, i, False)) for i in range(_BLOCK)]
    return entries


def _common_prefix(a: bytes, a_start: int, b: bytes, b_start: int, limit: int) -> int:
    """How many bytes from a[a_start:] and b[b_start:] are equal (at most `limit`): a binary search of C compares."""
    if a[a_start : a_start + limit] == b[b_start : b_start + limit]:
        return limit
    low, high = 0, limit - 1
    while low < high:
        middle = (low + high + 1) // 2
        if a[a_start : a_start + middle] == b[b_start : b_start + middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: bytes, a_end: int, b: bytes, b_end: int, limit: int) -> int:
    if a[a_end - limit : a_end] == b[b_end - limit : b_end]:
        return limit
    low, high = 0, limit - 1
    while low < high:
        middle = (low + high + 1) // 2
        if a[a_end - middle : a_end] == b[b_end - middle : b_end]:
            low = middle
        else:
            high = middle - 1
    return low


def _at_least_min_fragment_characters(data: bytes) -> bool:
    if len(data) >= 4 * MIN_FRAGMENT:  # a UTF-8 character is at most 4 bytes
        return True
    return sum(1 for byte in data if byte & 0xC0 != 0x80) >= MIN_FRAGMENT


class Redactor:
    """Masks registered values in text. Registration is rare and locked; `redact` reads one immutable snapshot."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._index: _Index = {}
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        """Mask `value` (stripped of surrounding whitespace) from now on; registering it again is free."""
        value = value.strip()
        if value in self._values:
            return
        if len(value) < MIN_FRAGMENT:
            # it would mask ordinary text; the broker refuses secrets this short (and shorter than 12) anyway
            raise ValueError(f"a value to redact must be at least {MIN_FRAGMENT} characters long")
        entries = _index_entries(value)
        with self._lock:
            if value in self._values:
                return
            index = dict(self._index)
            for key, entry in entries:
                index[key] = (*index.get(key, ()), entry)
            self._index = index
            self._values = self._values | {value}

    def redact(self, text: str) -> str:
        """`text` with every registered value masked in any of its forms; `text` itself when there is none."""
        index = self._index
        if not index or len(text) < MIN_FRAGMENT:
            return text
        data = text.encode("utf-8", "surrogatepass")
        padded = data + bytes(-len(data) % _BLOCK)
        blocks = memoryview(padded).cast("I")
        if index.keys().isdisjoint(blocks):
            return text
        spans = self._spans(data, index, index.keys() & blocks)
        if not spans:
            return text
        pieces: list[bytes] = []
        last = 0
        for start, end in spans:
            pieces += [data[last:start], _MASK_BYTES]
            last = end
        pieces.append(data[last:])
        return b"".join(pieces).decode("utf-8", "surrogatepass")

    @staticmethod
    def _spans(data: bytes, index: _Index, hits: set[int]) -> list[tuple[int, int]]:
        candidates: list[tuple[int, int]] = []
        for key in hits:
            gram = key.to_bytes(_BLOCK, sys.byteorder)
            at = data.find(gram)
            while at != -1:
                if at % _BLOCK == 0:  # only blocks at multiples of 4 are needed (module docstring)
                    candidates.append((at, key))
                at = data.find(gram, at + 1)
        candidates.sort()
        found: list[tuple[int, int]] = []
        extended: dict[tuple[bytes, int], tuple[int, int]] = {}  # (value, alignment) -> span already found
        for at, key in candidates:
            for pattern, offset, any_piece in index[key]:
                begin = at - offset
                if not any_piece:
                    if begin >= 0 and data.startswith(pattern, begin):
                        found.append((begin, begin + len(pattern)))
                    continue
                known = extended.get((pattern, begin))
                if known is not None and known[0] <= at and at + _BLOCK <= known[1]:
                    continue
                left = _common_suffix(data, at, pattern, offset, min(at, offset))
                tail = at + _BLOCK
                right = _common_prefix(
                    data, tail, pattern, offset + _BLOCK, min(len(data) - tail, len(pattern) - offset - _BLOCK)
                )
                span = (at - left, tail + right)
                extended[(pattern, begin)] = span
                if _at_least_min_fragment_characters(data[span[0] : span[1]]):
                    found.append(span)
        return _merged(data, found)

    def redact_json(self, value: Any) -> Any:
        """A JSON-like value with registered values masked after serialization, parsed back.

        Serializing first means a value holding `"` or `\\` is matched in its escaped form. If masking broke the
        document (a piece of a value cut through an escape) or changed its shape, each string is masked on its
        own instead. Objects that are not JSON are serialized with str(), as the audit trail does.
        """
        text = json.dumps(value, default=str, ensure_ascii=False)
        original = json.loads(text)
        masked = self.redact(text)
        if masked is text:
            return original
        try:
            candidate = json.loads(masked)
        except ValueError:
            return self._redact_leaves(original)
        return candidate if _same_shape(original, candidate) else self._redact_leaves(original)

    def _redact_leaves(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.redact(key): self._redact_leaves(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._redact_leaves(item) for item in value]
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = str(value)
            masked = self.redact(text)
            return value if masked is text else masked
        return value


def _merged(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans, widened to whole UTF-8 characters."""
    merged: list[tuple[int, int]] = []
    for found_start, found_end in sorted(spans):
        start, end = found_start, found_end
        while start > 0 and data[start] & 0xC0 == 0x80:
            start -= 1
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end += 1
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _same_shape(original: Any, candidate: Any) -> bool:
    if isinstance(original, dict):
        return (
            isinstance(candidate, dict)
            and len(original) == len(candidate)
            and all(_same_shape(a, b) for a, b in zip(original.values(), candidate.values(), strict=True))
        )
    if isinstance(original, list):
        return (
            isinstance(candidate, list)
            and len(original) == len(candidate)
            and all(_same_shape(a, b) for a, b in zip(original, candidate, strict=True))
        )
    return not isinstance(candidate, dict | list)


REDACTOR = Redactor()


# ---- logging -------------------------------------------------------------------------------------------------


class _Masked:
    """A log argument that is neither text nor a number: rendered through the redactor by %s and %r."""

    __slots__ = ("_redactor", "value")

    def __init__(self, value: object, redactor: Redactor) -> None:
        self.value = value
        self._redactor = redactor

    def __str__(self) -> str:
        return self._redactor.redact(str(self.value))

    def __repr__(self) -> str:
        return self._redactor.redact(repr(self.value))


class _MaskedMapping(dict[Any, Any]):
    """A mapping argument or message (`logger.info("x %s", {"a": 1})`, `"%(user)s"`), kept a dict, rendered masked."""

    def __init__(self, values: Mapping[Any, Any], redactor: Redactor) -> None:
        super().__init__(values)
        self._redactor = redactor

    def __getitem__(self, key: Any) -> Any:
        return _masked_argument(super().__getitem__(key), self._redactor)

    def __repr__(self) -> str:
        return self._redactor.redact(dict.__repr__(self))

    __str__ = __repr__


def _masked_argument(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if value is None or isinstance(value, numbers.Number | _Masked):  # %d and %f need the number itself
        return value
    return _Masked(value, redactor)


# attributes every LogRecord has; any other one came from `extra=`
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact_record(record: logging.LogRecord, redactor: Redactor = REDACTOR, extras: bool = True) -> None:
    """Mask a record's message, arguments, exception and stack text (and its str `extra=` fields) in place."""
    message = record.msg
    if isinstance(message, str):
        record.msg = redactor.redact(message)
    elif isinstance(message, Mapping) and not isinstance(message, _MaskedMapping):
        record.msg = _MaskedMapping(message, redactor)
    elif not isinstance(message, list | tuple) and not isinstance(message, numbers.Number | _Masked | _MaskedMapping):
        record.msg = _Masked(message, redactor)
    arguments = record.args
    if isinstance(arguments, Mapping):
        if not isinstance(arguments, _MaskedMapping):
            record.args = _MaskedMapping(arguments, redactor)
    elif arguments:
        record.args = tuple(_masked_argument(argument, redactor) for argument in arguments)
    if record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    elif record.exc_info and record.exc_info[0] is not None:
        # handlers' formatters reuse exc_text: the traceback they print is this masked one
        record.exc_text = redactor.redact(_EXCEPTION_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    if extras:
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in _RECORD_ATTRIBUTES:
                setattr(record, name, redactor.redact(value))


_EXCEPTION_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks registered values in each record it sees; never drops one. Arguments stay arguments (dicts stay dicts)."""

    def __init__(self, name: str = "", redactor: Redactor = REDACTOR) -> None:
        super().__init__(name)
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self._redactor)
        return True


# Loggers of the AWS SDK and its HTTP stack whose DEBUG records print request parameters, request and response
# bodies, signed canonical requests, URLs or credential responses. A GetSecretValue response is logged (by
# botocore.parsers) before the broker can register the value it holds, so no redaction can catch it: these
# records are dropped instead. Filters on a logger do not apply to its children's records: each is listed.
WIRE_LOGGERS: Final = (
    "botocore.auth",
    "botocore.awsrequest",
    "botocore.compress",
    "botocore.discovery",
    "botocore.endpoint",
    "botocore.handlers",
    "botocore.history",
    "botocore.hooks",
    "botocore.httpchecksum",
    "botocore.httpsession",
    "botocore.monitoring",
    "botocore.paginate",
    "botocore.parsers",
    "botocore.retries.adaptive",
    "botocore.retries.special",
    "botocore.retries.standard",
    "botocore.retryhandler",
    "botocore.utils",
    "boto3.resources.action",
    "boto3.resources.collection",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)


class DropWireDebug(logging.Filter):
    """Drops DEBUG (and lower) records, whatever level the logger or its handlers are set to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def drop_aws_wire_debug_logs() -> None:
    """Attach `DropWireDebug` to every logger in WIRE_LOGGERS (idempotent; the loggers may not exist yet)."""
    for name in WIRE_LOGGERS:
        wire_logger = logging.getLogger(name)
        if not any(isinstance(existing, DropWireDebug) for existing in wire_logger.filters):
            wire_logger.addFilter(DropWireDebug())


def _redacting_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            redact_record(record, REDACTOR, extras=False)  # extra= fields are set after the factory returns
        except Exception:  # a logging call must never raise, nor print what it could not mask
            record.msg, record.args, record.exc_info, record.exc_text = (
                "log record withheld: redaction failed",
                (),
                None,
                None,
            )
        return record

    factory.baton_redacting = True  # type: ignore[attr-defined]
    return factory


def install_log_redaction() -> None:
    """Mask registered values in every log record of the process, whichever library emits it (idempotent).

    Three hooks, because no single one sees everything:
    - a LogRecord factory masks the message, the arguments (lazily: they keep their type and are rendered
      masked by %s/%r) and the exception text of records created by any logger, for any handler, including
      handlers added later (pytest's, a library's);
    - a RedactingFilter on each root handler existing now also masks str `extra=` fields, which are set on the
      record after the factory returns;
    - DropWireDebug on the AWS SDK's wire loggers (see WIRE_LOGGERS).
    Trade-offs: the factory is process-wide state and costs one `redact` of the message per emitted record (a
    few microseconds; records below the level are never created); code reading `record.args` sees wrapper
    objects instead of its own non-str, non-number arguments; handlers added to the root logger later get no
    filter, so non-str `extra=` fields they print are not masked; a value registered after a record was
    formatted cannot be masked in it (hence DropWireDebug). The Powertools logger masks its whole serialized
    line in its formatter (baton.observability) and needs none of this.
    """
    drop_aws_wire_debug_logs()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
    current = logging.getLogRecordFactory()
    if not getattr(current, "baton_redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))
