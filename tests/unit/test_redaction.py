"""The redactor masks a registered secret in every form it takes on its way into text, logs included."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import threading
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.observability import logger, logs_to
from baton.redaction import MASK, REDACTOR, RedactingFilter, Redactor, install_log_redaction

# printable, no "*" (the mask itself), no control characters: what the broker lets through
SECRET_ALPHABET = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="*", max_codepoint=0x2FFF
)


def a_secret() -> str:
    return secrets.token_urlsafe(24)


def registered(value: str) -> Redactor:
    redactor = Redactor()
    redactor.register(value)
    return redactor


def pieces(value: str, length: int = 8) -> list[str]:
    return [value[i : i + length] for i in range(len(value) - length + 1)]


def assert_no_piece_of(value: str, text: str) -> None:
    leaked = [piece for piece in pieces(value) if piece in text]
    assert not leaked, f"pieces of the secret left in {text!r}: {leaked}"


@pytest.fixture
def tricky_secret() -> str:
    # quotes, a backslash, a slash, a space, a plus, a percent and non-ASCII: every escaping scheme differs on it
    return f"k3y'\"\\/ +%-ünï€-{secrets.token_hex(6)}"


def test_a_registered_secret_is_masked_in_plain_text() -> None:
    # Given a registered secret
    secret = a_secret()
    redactor = registered(secret)
    # When text carrying it is redacted
    masked = redactor.redact(f"calling the API with key={secret}; done")
    # Then the value is gone and the rest of the text is intact
    assert masked == f"calling the API with key={MASK}; done"


def test_text_without_a_secret_is_returned_unchanged() -> None:
    # Given a registered secret and a long text that does not hold it
    redactor = registered(a_secret())
    text = "an ordinary log line about request 1-5759e988-bd862e3fe1be46a994272793 " * 150
    # When it is redacted
    masked = redactor.redact(text)
    # Then the very same string comes back (the fast path: nothing copied)
    assert masked is text


def test_a_secret_in_a_repr_is_masked(tricky_secret: str) -> None:
    # Given a registered secret full of characters repr() escapes
    redactor = registered(tricky_secret)
    # When a str repr, a bytes repr (http.client's "Invalid header value b'...'") and an ascii() are redacted
    texts = [repr(f"Bearer {tricky_secret}"), repr(f"Bearer {tricky_secret}\n".encode()), ascii(tricky_secret)]
    # Then none of the escaped forms survives
    for text in texts:
        masked = redactor.redact(text)
        assert MASK in masked
        assert repr(tricky_secret)[1:-1] not in masked
        assert repr(tricky_secret.encode())[2:-1] not in masked
        assert ascii(tricky_secret)[1:-1] not in masked
        assert_no_piece_of(tricky_secret, masked)


def test_a_secret_after_json_escaping_is_masked(tricky_secret: str) -> None:
    # Given a registered secret holding a quote and a backslash
    redactor = registered(tricky_secret)
    # When JSON documents carrying it (escaped, ASCII-only, and a document embedded in a string) are redacted
    document = {"headers": {"x-api-key": tricky_secret}}
    texts = [json.dumps(document), json.dumps(document, ensure_ascii=False), json.dumps({"body": json.dumps(document)})]
    # Then the escaped value is masked and the documents still parse
    for text in texts:
        masked = redactor.redact(text)
        assert MASK in masked
        assert json.dumps(tricky_secret)[1:-1] not in masked
        assert_no_piece_of(tricky_secret, masked)
        json.loads(masked)


def test_a_url_encoded_secret_is_masked(tricky_secret: str) -> None:
    # Given a registered secret that URL encoding changes
    redactor = registered(tricky_secret)
    encodings = [
        quote(tricky_secret, safe=""),
        quote(tricky_secret),
        quote_plus(tricky_secret),
        quote(tricky_secret, safe="").lower(),  # some encoders write lowercase escapes
    ]
    assert all(encoded != tricky_secret for encoded in encodings)
    for encoded in encodings:
        # When a URL carrying it in its query string is redacted
        masked = redactor.redact(f"GET https://api.example.com/v1/charges?key={encoded}&page=2")
        # Then the encoded value is gone, the URL around it is not
        assert masked.startswith("GET https://api.example.com/v1/charges?key=")
        assert masked.endswith(f"{MASK}&page=2")


@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "user", "admin", "alice:"])
def test_a_secret_in_http_basic_auth_is_masked_at_every_offset(user: str, alphabet: str) -> None:
    # Given a registered secret whose bytes contain + and / in base64 (0xfb 0xff), URL-safe - and _
    secret = "pass\u00fb\u00ff" + secrets.token_urlsafe(12)
    redactor = registered(secret)
    # When an HTTP Basic header puts it after "user:" (the prefix shifts it to byte offset 0, 1 or 2)
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    credentials = f"{user}:{secret}".encode()
    encoded = encode(credentials).decode()
    masked = redactor.redact(f"Authorization: Basic {encoded}")
    # Then every base64 character made only of the secret's bits is masked
    start = len(f"{user}:".encode())
    first, last = -(-8 * start // 6), (8 * len(credentials)) // 6
    assert last - first >= 12
    assert encoded[first:last] not in masked
    assert all(encoded[i : i + 8] not in masked for i in range(first, last - 7))
    # and what only the user name made is kept
    assert masked.startswith("Authorization: Basic " + encoded[: (8 * start) // 6])


def test_a_hex_encoded_secret_is_masked() -> None:
    # Given a registered secret
    secret = a_secret()
    redactor = registered(secret)
    # When its hex dump, in either case, is redacted
    for dump in (secret.encode().hex(), secret.encode().hex().upper()):
        masked = redactor.redact(f"payload={dump}")
        # Then it is masked
        assert masked == f"payload={MASK}"


def test_a_truncated_secret_is_masked() -> None:
    # Given a registered secret
    secret = a_secret()
    redactor = registered(secret)
    # When an error message cut at 500 characters ends on the first 8 characters of it, or starts mid-value
    head = redactor.redact("x" * 492 + secret[:8])
    tail = redactor.redact(secret[-9:] + " was rejected")
    # Then each piece is masked
    assert head == "x" * 492 + MASK
    assert tail == f"{MASK} was rejected"


def test_a_secret_split_over_two_lines_is_masked() -> None:
    # Given a registered secret
    secret = a_secret()
    redactor = registered(secret)
    # When a wrapped log line splits it in two fragments of at least 8 characters
    masked = redactor.redact(f"key: {secret[:13]}\n     {secret[13:]}")
    # Then both fragments are masked
    assert masked == f"key: {MASK}\n     {MASK}"


def test_a_piece_shorter_than_eight_characters_is_left_alone() -> None:
    # Given a registered secret
    secret = a_secret()
    redactor = registered(secret)
    # When text holds only a 7-character piece of it (ordinary text would be masked otherwise)
    text = f"prefix {secret[5:12]} suffix"
    # Then nothing is masked
    assert redactor.redact(text) is text


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(SECRET_ALPHABET, min_size=12, max_size=48).map(str.strip).filter(lambda s: len(s) >= 12),
    bounds=st.tuples(st.integers(0, 48), st.integers(8, 48)),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_any_piece_of_eight_characters_or_more_is_masked_wherever_it_sits(
    secret: str, bounds: tuple[int, int], before: str, after: str
) -> None:
    # Given a registered secret and a piece of it at least 8 characters long, at any position of any text
    start = min(bounds[0], len(secret) - 8)
    piece = secret[start : start + bounds[1]]
    redactor = registered(secret)
    # When the text is redacted
    masked = redactor.redact(before + piece + after)
    # Then no 8 consecutive characters of the secret remain
    assert_no_piece_of(secret, masked)


@settings(max_examples=100, deadline=None)
@given(
    secret=st.text(SECRET_ALPHABET, min_size=12, max_size=40).map(str.strip).filter(lambda s: len(s) >= 12),
    prefix=st.binary(max_size=5),
    before=st.text(max_size=20),
)
def test_base64_of_a_secret_after_any_prefix_is_masked(secret: str, prefix: bytes, before: str) -> None:
    # Given a registered secret, base64-encoded after an arbitrary prefix
    redactor = registered(secret)
    data = prefix + secret.encode()
    encoded = base64.b64encode(data).decode()
    # When the text carrying it is redacted
    masked = redactor.redact(before + encoded)
    # Then no 8 characters made only of the secret's bits remain
    first, last = -(-8 * len(prefix) // 6), (8 * len(data)) // 6
    assert all(encoded[i : i + 8] not in masked for i in range(first, last - 7))


def test_a_json_secret_masks_its_values_not_its_keys() -> None:
    # Given a registered secret in Secrets Manager's usual credentials shape
    password = a_secret()
    value = json.dumps({"username": "admin", "password": password, "engine": "mysql", "port": 3306})
    redactor = registered(value)
    # When a log line names the keys, and a tool sends the password in a Basic header
    line = redactor.redact('logging in with the "username" and "password" fields')
    header = redactor.redact("Basic " + base64.b64encode(f"admin:{password}".encode()).decode())
    whole = redactor.redact(f"loaded {value}")
    # Then the keys stay readable, the password and the whole document are masked
    assert line == 'logging in with the "username" and "password" fields'
    assert_no_piece_of(password, header)
    assert MASK in header
    assert whole == f"loaded {MASK}"


def test_tool_arguments_with_quotes_and_backslashes_are_masked_after_escaping(tricky_secret: str) -> None:
    # Given a registered secret holding " and \ and tool arguments carrying it
    redactor = registered(tricky_secret)
    arguments = {"headers": {"Authorization": f"Bearer {tricky_secret}"}, "note": tricky_secret[:10], "n": 3}
    # When the arguments are redacted as JSON (what the audit trail records)
    safe = redactor.redact_json(arguments)
    # Then the structure is kept and no piece of the secret survives, escaped or not
    assert safe == {"headers": {"Authorization": f"Bearer {MASK}"}, "note": MASK, "n": 3}
    assert_no_piece_of(tricky_secret, json.dumps(safe, ensure_ascii=False))


def test_redact_json_falls_back_to_each_string_when_masking_would_break_the_json() -> None:
    # Given a secret ending in a backslash, and a value holding the rest of it followed by a quote
    secret = f"{secrets.token_hex(6)}\\"
    redactor = registered(secret)
    value = {"error": f'{secret[:-1]}"quoted"', "other": "kept"}
    # (in the serialized text the secret's backslash is the one escaping the quote: masking cuts the escape)
    with pytest.raises(json.JSONDecodeError):
        json.loads(redactor.redact(json.dumps(value, ensure_ascii=False)))
    # When the value is redacted as JSON
    safe = redactor.redact_json(value)
    # Then each string was masked on its own and the structure survives
    assert safe == {"error": f'{MASK}"quoted"', "other": "kept"}


def test_an_api_echoing_the_secret_into_a_tool_result_is_masked_in_the_agent_output() -> None:
    # Given a tool that sent a registered API key and got a response echoing it back (request, headers, error)
    secret = a_secret()
    redactor = registered(secret)
    echoed = {
        "status": 401,
        "request": {"headers": {"Authorization": f"Bearer {secret}"}},
        "error": f"invalid key '{secret[:12]}...'",
        "debug": base64.b64encode(f"key={secret}".encode()).decode(),
    }
    agent_output = {"summary": "charge failed", "tool_results": [echoed]}
    # When the agent's output is redacted before it is journaled
    safe = redactor.redact_json(agent_output)
    # Then the key is masked in every echo and the rest of the output is intact
    assert safe["summary"] == "charge failed"
    assert safe["tool_results"][0]["status"] == 401
    assert safe["tool_results"][0]["request"]["headers"]["Authorization"] == f"Bearer {MASK}"
    assert safe["tool_results"][0]["error"] == f"invalid key '{MASK}...'"
    text = json.dumps(safe)
    assert_no_piece_of(secret, text)
    assert base64.b64encode(secret.encode()).decode()[4:-4] not in text


def test_registration_is_thread_safe() -> None:
    # Given one redactor and many threads registering values while others redact
    redactor = Redactor()
    values = [[a_secret() for _ in range(20)] for _ in range(8)]
    errors: list[BaseException] = []

    def register_all(batch: list[str]) -> None:
        try:
            for value in batch:
                redactor.register(value)
                redactor.redact(f"text with {value}")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=register_all, args=(batch,)) for batch in values]
    # When they all run at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no registration was lost: every value is masked
    assert not errors
    everything = " ".join(value for batch in values for value in batch)
    assert redactor.redact(everything) == " ".join([MASK] * 160)


def test_a_value_too_short_to_mask_safely_is_refused() -> None:
    # Given a redactor
    redactor = Redactor()
    # When a 7-character value is registered
    # Then it is refused: masking it would mask ordinary text
    with pytest.raises(ValueError, match="at least 8"):
        redactor.register("hunter2")


# ---- logging ---------------------------------------------------------------------------------------------------


@pytest.fixture
def global_secret() -> str:
    # the logging hooks use the process-wide REDACTOR; a fresh random value cannot mask anything else
    secret = a_secret()
    REDACTOR.register(secret)
    return secret


def log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged: the check would be vacuous"
    return lines


def test_a_secret_in_a_loggers_extra_is_masked(global_secret: str) -> None:
    # Given the Powertools logger writing to a stream
    stream = io.StringIO()
    with logs_to(stream):
        # When a secret is passed in extra= fields, nested and plain
        logger.info("calling", extra={"headers": {"Authorization": f"Bearer {global_secret}"}, "key": global_secret})
    # Then the fields are there, masked
    (line,) = log_lines(stream)
    assert line["headers"] == {"Authorization": f"Bearer {MASK}"}
    assert line["key"] == MASK
    assert_no_piece_of(global_secret, stream.getvalue())


def test_a_secret_in_an_exception_traceback_is_masked(global_secret: str) -> None:
    # Given the Powertools logger writing to a stream
    stream = io.StringIO()
    header = f"Bearer {global_secret}\n"
    with logs_to(stream):
        try:
            # When http.client-like code raises with the header's repr and logger.exception logs it
            raise ValueError(f"Invalid header value {header.encode()!r}")
        except ValueError:
            logger.exception("request failed")
    # Then the exception text and the stack trace are there, masked
    (line,) = log_lines(stream)
    assert "Invalid header value b'Bearer ***\\n'" in str(line["exception"])
    assert line["exception_name"] == "ValueError"
    assert_no_piece_of(global_secret, stream.getvalue())


def test_a_dict_argument_is_logged_as_a_dict_not_its_keys(global_secret: str) -> None:
    # Given the Powertools logger writing to a stream
    stream = io.StringIO()
    with logs_to(stream):
        # When a dict is a %s argument, and a mapping feeds %(name)s fields
        logger.info("x %s", {"a": 1})
        logger.info("calling %(host)s with %(key)s", {"host": "api.example.com", "key": global_secret})
    # Then the dict is rendered whole (not as a tuple of its keys) and the mapping's secret is masked
    first, second = log_lines(stream)
    assert first["message"] == "x {'a': 1}"
    assert second["message"] == f"calling api.example.com with {MASK}"


def test_the_redacting_filter_keeps_arguments_and_their_types() -> None:
    # Given a record with a number, a dict and a str argument holding a secret
    secret = a_secret()
    record = logging.LogRecord("lib", logging.INFO, __file__, 1, "%d calls, %s, %s", (3, {"a": 1}, secret), None)
    # When the filter sees it
    assert RedactingFilter(redactor=registered(secret)).filter(record)
    # Then %d still gets a number, the dict is rendered whole, the secret masked
    assert record.getMessage() == f"3 calls, {{'a': 1}}, {MASK}"


def test_a_log_line_stays_valid_json_when_masking_would_break_it() -> None:
    # Given a registered secret ending in a backslash and a message holding the rest of it followed by a quote
    secret = f"{secrets.token_hex(6)}\\"
    REDACTOR.register(secret)
    message = f'{secret[:-1]}"quoted"'
    with pytest.raises(json.JSONDecodeError):  # masking the serialized line alone would break it
        json.loads(REDACTOR.redact(json.dumps({"message": message})))
    stream = io.StringIO()
    with logs_to(stream):
        # When it is logged
        logger.info(message)
    # Then the line is JSON, with the message masked string by string
    (line,) = log_lines(stream)
    assert line["message"] == f'{MASK}"quoted"'


@pytest.fixture
def root_capture() -> Iterator[io.StringIO]:
    # a handler another library would add on the root logger, with a plain text format
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(token)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_records_of_other_libraries_are_masked_on_the_root_handlers(
    global_secret: str, root_capture: io.StringIO
) -> None:
    # Given a root handler present when redaction is installed (as Lambda's is at import)
    install_log_redaction()
    library = logging.getLogger("thirdparty.client")
    library.setLevel(logging.INFO)
    # When a library logs the secret in its message arguments (bytes, dict) and in an extra= field it prints
    library.info(
        "sent %r with %s", f"Bearer {global_secret}".encode(), {"key": global_secret}, extra={"token": global_secret}
    )
    # Then the handler printed the record, masked everywhere
    captured = root_capture.getvalue()
    assert captured.startswith("thirdparty.client sent b'Bearer ***' with {'key': '***'} ***")
    assert_no_piece_of(global_secret, captured)


def test_records_of_any_logger_are_masked_by_the_record_factory_for_handlers_added_later(global_secret: str) -> None:
    # Given a handler added after redaction was installed, with no filter of ours
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger("late.library")
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False
    try:
        # When the library logs the secret in its message, its arguments and an exception
        library.info(f"token {global_secret}")
        library.info("headers %s", {"Authorization": f"Bearer {global_secret}"})
        try:
            raise RuntimeError(f"refused {global_secret}")
        except RuntimeError:
            library.exception("call failed")
    finally:
        library.removeHandler(handler)
        library.propagate = True
    # Then everything printed is masked
    captured = stream.getvalue()
    assert "token ***" in captured
    assert "headers {'Authorization': 'Bearer ***'}" in captured
    assert "RuntimeError: refused ***" in captured
    assert_no_piece_of(global_secret, captured)


def test_logs_to_still_redirects_the_redacting_powertools_output(global_secret: str) -> None:
    # Given the Powertools logger with its redacting formatter
    stream = io.StringIO()
    # When logs are redirected for an offline run
    with logs_to(stream):
        logger.info("offline", extra={"key": global_secret})
    # Then the line went to the stream, still structured and masked
    (line,) = log_lines(stream)
    assert line["service"] == "baton"
    assert line["message"] == "offline"
    assert line["key"] == MASK
