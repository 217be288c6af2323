"""Every patch Baton applies to moto, in one place. Pinned to moto 5.2.5: tests/local/test_moto_patches.py
and tests/soak/test_moto_dynamodb.py fail first, and here, if an upgrade changes what they rely on.

Lambda: moto's Docker-free backend only echoes payloads. `invoke` is replaced so that a function name
resolves to a handler registered here; an exception becomes an `Unhandled` function error whose errorType
is the exception's class name, as the Lambda Python runtime reports it, so Step Functions' Retry and Catch
behave as on AWS.

DynamoDB: made safe and fast under concurrent runs (see the section below).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

Handler = Callable[[dict[str, Any]], Any]

_handlers: dict[str, Handler] = {}
_lock = threading.Lock()
_original_invoke = LambdaSimpleBackend.invoke
_original_call_action = DynamoHandler.call_action
_original_transact = DynamoDBBackend.transact_write_items
_original_copy_module = getattr(dynamodb_models, "copy")  # noqa: B009 (not exported)
_original_table_query = Table.query
_original_all_items = Table.all_items


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


# ---------------------------------------------------------------- DynamoDB under concurrent runs
#
# moto's DynamoDB is not thread-safe, and concurrent executions call it from many interpreter threads:
# a query iterating a partition while another thread inserts raises "dictionary changed size during
# iteration". And TransactWriteItems backs up the whole table with copy.deepcopy once per item of the
# transaction (so a commit costs O(items in the transaction x items in the table)), then restores that
# backup on a cancelled transaction, undoing writes other threads made meanwhile. The patch serialises
# every DynamoDB request (the GIL serialises them anyway) and replaces the whole-table backup with an
# undo log of the items the transaction touches. Last, a Query on the table's own key sorts the whole
# table to pick one partition out of it (O(table) per query, so a soak of many runs turns quadratic);
# it now reads only that partition.

_dynamodb_lock = threading.RLock()


class _NoTableCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not copied, items still are."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table):
            return value
        return _original_copy_module.deepcopy(value, memo)


_query_partition = threading.local()


def _table_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    _query_partition.value = (self, hash_key) if index_name is None and hash_key is not None else None
    try:
        return _original_table_query(self, hash_key, *args, **kwargs)
    finally:
        _query_partition.value = None


def _table_all_items(self: Table) -> Any:
    hint = getattr(_query_partition, "value", None)
    if hint is None or hint[0] is not self or not self.range_key_attr:
        return _original_all_items(self)
    partition = self.items.get(hint[1], {})
    return sorted(partition.values(), key=lambda item: item.range_key)


def _serialised_call_action(self: DynamoHandler) -> Any:
    with _dynamodb_lock:
        return _original_call_action(self)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    undo: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    with _dynamodb_lock:
        for item in transact_items:
            _, operation = next(iter(item.items()))
            table_name = operation.get("TableName")
            if not table_name or table_name not in self.tables:
                continue
            table = self.tables[table_name]
            try:
                if "Item" in operation:
                    key = {table.hash_key_attr: operation["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = operation["Item"][table.range_key_attr]
                else:
                    key = operation["Key"]
                current = self.get_item(table_name, key)
            except (KeyError, TypeError, ValueError):
                continue  # moto's own validation reports the malformed operation
            previous = None if current is None else current.to_json()["Attributes"]
            undo.append((table_name, key, previous))
        try:
            _original_transact(self, transact_items)
        except Exception:
            for table_name, key, previous in reversed(undo):
                if previous is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, previous)
            raise


def install() -> None:
    """Idempotent; `uninstall` restores moto's own behaviour."""
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]
    DynamoHandler.call_action = _serialised_call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    setattr(dynamodb_models, "copy", _NoTableCopy)  # noqa: B010 (not exported)
    Table.query = _table_query  # type: ignore[method-assign]
    Table.all_items = _table_all_items  # type: ignore[method-assign]


def uninstall() -> None:
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]
    DynamoHandler.call_action = _original_call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _original_transact  # type: ignore[method-assign]
    setattr(dynamodb_models, "copy", _original_copy_module)  # noqa: B010
    Table.query = _original_table_query  # type: ignore[method-assign]
    Table.all_items = _original_all_items  # type: ignore[method-assign]
    clear()
