"""The one patch Baton applies to moto: Lambda invocations run registered Python handlers in-process.

moto's Docker-free Lambda backend only echoes payloads. This replaces its `invoke` so that a function
name resolves to a handler registered here; an exception becomes an `Unhandled` function error whose
errorType is the exception's class name, as the Lambda Python runtime reports it, so Step
Functions' Retry and Catch behave as on AWS. Pinned to moto 5.2.5 (see tests/local/test_moto_lambda.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

Handler = Callable[[dict[str, Any]], Any]

_handlers: dict[str, Handler] = {}
_lock = threading.Lock()
_original_invoke = LambdaSimpleBackend.invoke


class NoHandler(Exception):
    pass


def register(function_name: str, handler: Handler) -> None:
    with _lock:
        _handlers[function_name] = handler


def clear() -> None:
    with _lock:
        _handlers.clear()


def _invoke(
    self: LambdaSimpleBackend,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> bytes:
    name = self.get_function(function_name, qualifier).function_name
    with _lock:
        handler = _handlers.get(name)
    try:
        if handler is None:
            raise NoHandler(f"no in-process handler is registered for function {name!r}")
        event = json.loads(body) if body else {}
        result = handler(event)
    except Exception as error:
        response_headers["x-amz-function-error"] = "Unhandled"
        # an exception may name the errorType it stands for (a fault injector's "Sandbox.Timedout")
        error_type = getattr(error, "lambda_error_type", type(error).__name__)
        return json.dumps({"errorType": error_type, "errorMessage": str(error)}).encode()
    return json.dumps(result).encode()


def install() -> None:
    """Idempotent; `uninstall` restores moto's own behaviour."""
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def uninstall() -> None:
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
    clear()
