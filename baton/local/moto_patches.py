"""Every patch Baton applies to moto, in one place. Pinned to moto 5.2.5: tests/local/test_moto_patches.py,
tests/local/test_moto_speed_patches.py and tests/soak/test_moto_dynamodb.py fail first, and here, if an upgrade
changes what they rely on.

Lambda: moto's Docker-free backend only echoes payloads. `invoke` is replaced so that a function name
resolves to a handler registered here; an exception becomes an `Unhandled` function error whose errorType
is the exception's class name, as the Lambda Python runtime reports it, so Step Functions' Retry and Catch
behave as on AWS.

DynamoDB: made safe and fast under concurrent runs (see the section below).

Speed, with no change in what moto answers (see the later sections, each with what it measured): importing
this module keeps moto's EC2 backend out of the import of the SSM backend and of the Step Functions
interpreter; while installed, the interpreter parses each JSONPath once, reuses one boto3 client per service
and copies its JSON values directly, botocore's data (models, endpoints) is read once per process instead of
once per session, and moto keeps each response class's method names and each serialized member's possible keys
instead of recomputing them for every request; a state machine definition is validated once per shape (its
function ARNs aside) instead of once per workflow, and each definition is read by ANTLR once, each execution building
its own program from that parse tree.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import re
import sys
import threading
import types
from collections.abc import Callable
from datetime import datetime
from typing import Any

import botocore.loaders
import botocore.session
import moto.core.utils as moto_core_utils
from botocore import xform_name

# ---------------------------------------------------------------- start-up: moto's EC2 backend stays unimported
#
# moto's SSM backend imports its EC2 backend (for maintenance-window targets that select EC2 instances), and the Step
# Functions interpreter imports moto.batch (for the JobStatus enum of its Batch integration), whose package imports
# the Batch backend and so EC2. Importing EC2 costs ~0.3 s of `baton run` (~1.0 s): it loads every instance type and
# offering, and lists regions through three new boto3 Sessions, parsing the EC2 model 3 times. Baton uses neither EC2
# nor Batch. So moto.ssm.models is imported against a stand-in `moto.ec2` whose `ec2_backends` imports the real one on
# first use, and `moto.batch` is registered as the real package with its __init__ not yet run: `moto.batch.utils`
# imports alone, and the first other attribute read from the package runs the __init__ (and so imports the Batch
# backend) exactly as an ordinary import would have.

_EC2 = "moto.ec2"
_BATCH = "moto.batch"


class _DeferredEc2Backends:
    """moto.ec2.ec2_backends as moto.ssm.models sees it: the real one, imported on first use."""

    @staticmethod
    def _real() -> Any:
        return importlib.import_module(_EC2).ec2_backends

    def __getitem__(self, account_id: str) -> Any:
        return self._real()[account_id]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def _import_ssm_without_ec2() -> None:
    if "moto.ssm.models" in sys.modules or _EC2 in sys.modules:
        return
    stand_in = types.ModuleType(_EC2)
    stand_in.ec2_backends = _DeferredEc2Backends()  # type: ignore[attr-defined]
    sys.modules[_EC2] = stand_in
    try:
        importlib.import_module("moto.ssm.models")
    finally:
        if sys.modules.get(_EC2) is stand_in:
            del sys.modules[_EC2]


def _register_batch_package_uninitialised() -> None:
    if _BATCH in sys.modules:
        return
    spec = importlib.util.find_spec(_BATCH)
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)
    lock = threading.RLock()

    def initialise(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        with lock:
            if package.__dict__.get("__getattr__") is initialise:
                delattr(package, "__getattr__")
                try:
                    spec.loader.exec_module(package)  # type: ignore[union-attr]
                except BaseException:
                    setattr(package, "__getattr__", initialise)  # noqa: B010
                    raise
        return getattr(package, name)

    setattr(package, "__getattr__", initialise)  # noqa: B010 (a module's __getattr__: PEP 562)
    sys.modules[_BATCH] = package
    setattr(sys.modules["moto"], "batch", package)  # noqa: B010 (what the import system does for a submodule)


_import_ssm_without_ec2()
_register_batch_package_uninitialised()

# imported after the above, so that they do not import EC2
from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402
from moto.core import responses as moto_responses  # noqa: E402
from moto.core import serialize as moto_serialize  # noqa: E402
from moto.core.loaders import Loader as MotoLoader  # noqa: E402
from moto.dynamodb import models as dynamodb_models  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.stepfunctions.parser import models as sfn_parser_models  # noqa: E402
from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer  # noqa: E402
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser  # noqa: E402
from moto.stepfunctions.parser.asl.component.common.path import result_path  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: E402
    state_task_service_sfn,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: E402
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor  # noqa: E402
from moto.stepfunctions.parser.asl.utils import boto_client, json_path  # noqa: E402

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


# ---------------------------------------------------------------- Step Functions interpreter: JSONPaths
#
# The interpreter calls jsonpath_ng's `parse` for every JSONPath it evaluates (every Parameters, ItemSelector,
# ResultSelector, ResultPath, OutputPath, Choice variable, in every state of every Map iteration), and each call
# builds a new ply parser (undone alone, a 1,000-task stage takes 19 s instead of 8.6). A parsed path is an immutable
# expression tree, so each distinct path is parsed once; an invalid path raises as before (exceptions are not cached).

# jsonpath_ng.ext.parse, for every path read (extract_json); jsonpath_ng.parse, for the path written (ResultPath)
_original_extended_parse = getattr(json_path, "parse")  # noqa: B009 (not exported)
_original_result_parse = getattr(result_path, "parse")  # noqa: B009 (not exported)


@functools.lru_cache(maxsize=4096)
def _extended_parse(path: str) -> Any:
    return _original_extended_parse(path)


@functools.lru_cache(maxsize=4096)
def _result_parse(path: str) -> Any:
    return _original_result_parse(path)


# ---------------------------------------------------------------- Step Functions interpreter: one client a service
#
# The interpreter's service integrations (lambda:invoke, dynamodb:getItem/putItem, ...) call `boto_client_for` for
# every task, which creates a new boto3 client each time (~2-5 ms of botocore set-up, serialised, as creating clients
# is not thread-safe: undone alone, a 1,000-task stage takes 24 s instead of 8.6). The client depends only on the
# region, the service and whether moto intercepts botocore (its fixed fake keys and Config do not vary;
# `state_credentials` is not used), and boto3 clients are thread-safe, so one client is kept per (region, service,
# intercepting) while installed. Every interpreter module that imported `boto_client_for` by name is patched: the test
# compares this list with moto's source.

BOTO_CLIENT_USERS = tuple(
    f"moto.stepfunctions.parser.asl.component.state.exec.{name}"
    for name in (
        "state_map.item_reader.eval.resource_eval_s3",
        "state_map.result_writer.resource_eval.resource_eval_s3",
        "state_task.lambda_eval_utils",
        "state_task.service.state_task_service_aws_sdk",
        "state_task.service.state_task_service_batch",
        "state_task.service.state_task_service_dynamodb",
        "state_task.service.state_task_service_ecs",
        "state_task.service.state_task_service_events",
        "state_task.service.state_task_service_glue",
        "state_task.service.state_task_service_sfn",
        "state_task.service.state_task_service_sns",
        "state_task.service.state_task_service_sqs",
        "state_task.service.state_task_service_unsupported",
    )
)
_original_boto_client_for = boto_client.boto_client_for
_interpreter_clients: dict[tuple[str, str, bool], Any] = {}
_interpreter_clients_lock = threading.Lock()


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    key = (region, service, bool(getattr(boto_client, "botocore_stubber").enabled))  # noqa: B009
    with _interpreter_clients_lock:
        client = _interpreter_clients.get(key)
        if client is None:
            client = _original_boto_client_for(region=region, service=service, state_credentials=state_credentials)
            _interpreter_clients[key] = client
    return client


def _set_boto_client_for(function: Callable[..., Any]) -> None:
    for name in BOTO_CLIENT_USERS:
        module = importlib.import_module(name)
        if getattr(module, "boto_client_for", None) not in (_original_boto_client_for, _boto_client_for):
            raise RuntimeError(f"{name}.boto_client_for is not moto 5.2.5's: re-check the patch")
        module.boto_client_for = function  # type: ignore[attr-defined]


# ---------------------------------------------------------------- botocore data read once per process
#
# Each botocore Session builds its own data loader, which lists the ~400 service folders and parses the JSON models
# and endpoints.json again (the Step Functions interpreter's boto3 default session, moto's own Session for region
# lists, the engine's session); moto builds a new loader for every model it reads. While installed, every botocore
# Session created with the default data path shares one loader, and moto's model reads share one moto loader (a
# separate one: moto merges its "moto-extras" into the models it loads, which botocore's clients must not see). Loaded
# data is only read, as it already is by all the clients of one session. (Undone alone, `baton run refund` takes 1.15
# s instead of 1.0.)

_original_botocore_create_loader = botocore.session.create_loader
_original_moto_create_loader = getattr(moto_core_utils, "create_loader")  # noqa: B009


@functools.cache
def _shared_botocore_loader() -> botocore.loaders.Loader:
    return _original_botocore_create_loader(None)


@functools.cache
def _shared_moto_loader() -> MotoLoader:
    loader: MotoLoader = _original_moto_create_loader()
    return loader


def _botocore_create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    if search_path_string is None:  # AWS_DATA_PATH unset: botocore's own data
        return _shared_botocore_loader()
    return _original_botocore_create_loader(search_path_string)


# ---------------------------------------------------------------- Step Functions interpreter: copying JSON
#
# The interpreter deep-copies a state's data at every step (each state's input, each JSONPath result, each frame's
# stack, each task's parameters): ~75 copy.deepcopy calls per Map iteration, on JSON values; and GetExecutionHistory
# deep-copies the whole history for every page it returns. In the modules below, `copy.deepcopy` copies dicts, lists
# and JSON scalars directly (about 4x faster; undone alone, a 1,000-task stage takes 0.6 s longer) and hands anything
# else to copy.deepcopy. The one difference: a list or dict that appears twice inside one copied value is copied twice
# (copy.deepcopy keeps it shared); the interpreter's values come from JSON, where nothing is shared.

JSON_COPY_USERS = (
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
_copy_module = sys.modules["copy"]


def _json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _json_deepcopy(item) for key, item in value.items()}
    if kind is list:
        return [_json_deepcopy(item) for item in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return _copy_module.deepcopy(value, memo)


class _JsonCopy:
    """Stands in for the `copy` module inside the interpreter modules above."""

    deepcopy = staticmethod(_json_deepcopy)
    copy = staticmethod(_copy_module.copy)


def _set_copy_module(module_object: Any) -> None:
    for name in JSON_COPY_USERS:
        module = importlib.import_module(name)
        if getattr(module, "copy", None) not in (_copy_module, _JsonCopy):
            raise RuntimeError(f"{name}.copy is not the copy module: re-check the patch")
        module.copy = module_object  # type: ignore[attr-defined]


# ---------------------------------------------------------------- moto's request dispatch
#
# For every request, moto lists the methods of the response class (inspect.getmembers: ~8% of a DynamoDB GetItem; 0.2
# s of a 1,000-task stage) to check the action is implemented. The list is a function of the class: it is kept per
# class while installed (and forgotten on install and uninstall, should a class gain a method in between).

_original_method_names = getattr(moto_responses, "method_names_from_class")  # noqa: B009


@functools.cache
def _method_names_from_class(clazz: object) -> list[str]:
    names: list[str] = _original_method_names(clazz)
    return names


# ---------------------------------------------------------------- moto's response serializer
#
# moto serializes every response by walking the operation's output shape; for each member of each structure it builds
# an AttributePickerContext (joining the serializer's path into a string) and asks every alias provider, in order,
# which keys the member may be stored under (a DynamoDB attribute value is a structure of ten members: an item of ten
# attributes asks ~600 times): undone alone, a 1,000-task stage takes 0.8 s longer, and reading 1,000 items back 40%
# longer. For a value that is a plain dict, the alias providers depend only on the member's key, its shape and the
# shape's parent (a dict has no `Meta` and its class name is always "dict"), so the list of keys is computed once per
# (picker type, providers, key, shape, parent) and the value looked up in that order, as the picker does. Anything
# else (model objects, pickers with response transformers, other picker classes) goes through moto's own code.

_original_serializer_get_value = moto_serialize.ResponseSerializer.get_value
_get_value = getattr(moto_serialize, "get_value")  # noqa: B009 (moto.core.utils.get_value, as the picker uses it)
_MISSING = getattr(moto_core_utils, "MISSING")  # noqa: B009
_KNOWN_PICKERS = (moto_serialize.AttributePicker, moto_serialize.XFormedAttributePicker)
_possible_keys: dict[tuple[Any, ...], tuple[Any, Any, tuple[str, ...]]] = {}


def _serializer_get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
    picker = self._value_picker
    if type(value) is not dict or type(picker) not in _KNOWN_PICKERS or picker.response_transformers:
        return _original_serializer_get_value(self, value, key, shape)
    parent = getattr(shape, "parent", None)
    cache_key = (type(picker), tuple(picker.alias_providers), key, id(shape), id(parent))
    cached = _possible_keys.get(cache_key)
    if cached is None or cached[0] is not shape or cached[1] is not parent:
        context = moto_serialize.AttributePickerContext(
            obj=value,
            key=key,
            shape=shape,
            operation_model=self.operation_model,
            service_model=self.operation_model.service_model,
            key_path=".".join(self.path),
        )
        try:
            possible_keys = tuple(picker.get_possible_keys(context))
        except Exception:  # an alias provider moto's own (lazy) walk may never have reached: moto's code decides
            return _original_serializer_get_value(self, value, key, shape)
        if len(_possible_keys) > 50_000:
            _possible_keys.clear()
        cached = _possible_keys[cache_key] = (shape, parent, possible_keys)
    for possible_key in cached[2]:
        found = _get_value(value, possible_key, _MISSING)
        if found is not _MISSING:
            return found
    return None


# ---------------------------------------------------------------- Step Functions: states:startExecution.sync:2
#
# The interpreter's integration with Step Functions itself (`arn:aws:states:::states:startExecution.sync:2`, what a
# hierarchical workflow starts its child executions with) is listed as supported, but moto's base class leaves the
# normalisation of requests and responses as stubs: the state's Sfn-cased parameters (`StateMachineArn`, `Name`,
# `Input`) reach the boto3 call as they are (its client skips parameter validation) and the start's response keeps
# boto3's casing, so the parent execution fails with States.Runtime, cause 'StateMachineArn'. The patch does what
# AWS (and LocalStack, where the interpreter comes from) does: parameters are renamed to the operation's input shape
# (`stateMachineArn`, `name`, `input` as JSON text) and responses to Sfn casing (`ExecutionArn`, `Output`, `Status`,
# ...), for this integration only, with dates as epoch milliseconds as Step Functions gives them (boto3's datetimes
# are not JSON). With `.sync:2`, the child's input and output are JSON values (moto parses them).

_SfnService = state_task_service_sfn.StateTaskServiceSfn
_original_sfn_normalise_parameters = _SfnService._normalise_parameters
_original_sfn_normalise_response = _SfnService._normalise_response


@functools.cache
def _sfn_operation(action: str) -> Any:
    """The botocore operation model of a Step Functions action in snake case (start_execution -> StartExecution)."""
    service = botocore.session.get_session().get_service_model("stepfunctions")
    for name in service.operation_names:
        if xform_name(name) == action:
            return service.operation_model(name)
    raise KeyError(f"no Step Functions operation {action!r}")


def _sfn_normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    _original_sfn_normalise_parameters(self, parameters, boto_service_name, service_action_name)
    operation = _sfn_operation(self._get_boto_service_action(service_action_name))
    self._to_boto_request(parameters, operation.input_shape)


def _sfn_normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    operation = _sfn_operation(self._get_boto_service_action(service_action_name))
    self._from_boto_response(response, operation.output_shape)
    if isinstance(response, dict):
        for key, value in response.items():
            if isinstance(value, datetime):
                response[key] = int(value.timestamp() * 1000)


# ---------------------------------------------------------------- Step Functions: a definition's shape validated once
#
# create_state_machine validates a definition by parsing it with moto's ASL grammar (ANTLR: ~70 ms for Baton's
# definition on the 2-core development machine), and an app deploys one state machine per workflow from the same
# definition, differing only in the orchestrator's function ARN: an offline start with the example apps' 13
# workflows spent ~1 s of its ~2.9 s there (profiled). Whether a definition parses cannot depend on which function a
# FunctionName string names, so a definition is validated once per shape (its Lambda function ARNs replaced by one
# placeholder); an invalid one still raises InvalidDefinition, every time (only successes are kept), and each
# execution still parses its own definition.

_ParserBackend = sfn_parser_models.StepFunctionsParserBackend
_original_validate_definition = _ParserBackend.__dict__["_validate_definition"]  # the staticmethod itself
_FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(?::[A-Za-z0-9_$-]+)?")
_validated_shapes: set[str] = set()
_validated_lock = threading.Lock()


def definition_shape(definition: str) -> str:
    """`definition` with every Lambda function ARN replaced by one placeholder."""
    return _FUNCTION_ARN.sub("arn:aws:lambda:us-east-1:000000000000:function:placeholder", definition)


def _validate_definition(definition: str) -> None:
    shape = definition_shape(definition)
    with _validated_lock:
        if shape in _validated_shapes:
            return
    _original_validate_definition.__func__(definition)
    with _validated_lock:
        _validated_shapes.add(shape)


# ---------------------------------------------------------------- Step Functions: a definition read by ANTLR once
#
# moto parses a state machine's definition at each execution (and at its creation, to validate it): ANTLR's lexer and
# parser, pure Python, build a parse tree (~55 ms for Baton's definition once the process has parsed one, ~120 ms for
# the first), then moto's Preprocessor turns that tree into the program the execution evaluates (~13 ms). The tree
# depends on the definition's text alone, and the Preprocessor only reads it (it builds new components), so the tree
# of each definition that parsed is kept and each execution still gets a program of its own, built from that tree
# (an execution never shares a component with another). A definition that fails to parse is never kept: it raises
# as before, every time.
#
# The one parse a process makes is ANTLR's two-stage strategy: SLL prediction first, bailing out at the first
# syntax error, then moto's own full LL parse only if that failed. ANTLR documents that an SLL parse either
# returns the tree LL would return or reports an error (PredictionMode.SLL), so a definition parses to the same
# tree, and one that does not parse raises moto's own errors from the LL parse. It made the first parse of
# Baton's definition ~130 -> ~80 ms on the development machine (a third of ANTLR's time was full-context LL
# prediction the grammar did not need).

_original_asl_parse = AmazonStateLanguageParser.__dict__["parse"]  # the staticmethod itself
_parse_trees: dict[str, Any] = {}
_parse_trees_lock = threading.Lock()


def _asl_parse(definition: str) -> tuple[Any, Any]:
    with _parse_trees_lock:
        tree = _parse_trees.get(definition)
    if tree is not None:
        return Preprocessor().visit(tree), tree
    tree = _sll_tree(definition)
    if tree is None:  # moto's parse, full LL with its error listener: the same tree, or moto's own errors
        program, tree = _original_asl_parse.__func__(definition)
    else:
        program = Preprocessor().visit(tree)
    with _parse_trees_lock:
        _parse_trees[definition] = tree
    return program, tree


# ANTLR's runtime ships no type information (an app's strict mypy reads this module): read as untyped
_antlr: Any = importlib.import_module("antlr4")
_bail: Any = importlib.import_module("antlr4.error.ErrorStrategy").BailErrorStrategy
_cancelled: Any = importlib.import_module("antlr4.error.Errors").ParseCancellationException
_SLL: Any = importlib.import_module("antlr4.atn.PredictionMode").PredictionMode.SLL


def _sll_tree(definition: str) -> Any:
    """The definition's tree by SLL prediction, or None at the first syntax error (then LL decides)."""
    parser = ASLParser(_antlr.CommonTokenStream(ASLLexer(_antlr.InputStream(definition))))
    parser._interp.predictionMode = _SLL
    parser.removeErrorListeners()
    parser._errHandler = _bail()
    try:
        return parser.state_machine()  # type: ignore[no-untyped-call]  # moto's generated parser
    except _cancelled:
        return None


# (owner, attribute, moto's own, Baton's): set by install, restored by uninstall
_ATTRIBUTES: tuple[tuple[Any, str, Any, Any], ...] = (
    (LambdaSimpleBackend, "invoke", _original_invoke, _invoke),
    (DynamoHandler, "call_action", _original_call_action, _serialised_call_action),
    (DynamoDBBackend, "transact_write_items", _original_transact, _transact_write_items),
    (dynamodb_models, "copy", _original_copy_module, _NoTableCopy),
    (Table, "query", _original_table_query, _table_query),
    (Table, "all_items", _original_all_items, _table_all_items),
    (json_path, "parse", _original_extended_parse, _extended_parse),
    (result_path, "parse", _original_result_parse, _result_parse),
    (botocore.session, "create_loader", _original_botocore_create_loader, _botocore_create_loader),
    (moto_core_utils, "create_loader", _original_moto_create_loader, _shared_moto_loader),
    (moto_responses, "method_names_from_class", _original_method_names, _method_names_from_class),
    (moto_serialize.ResponseSerializer, "get_value", _original_serializer_get_value, _serializer_get_value),
    (_SfnService, "_normalise_parameters", _original_sfn_normalise_parameters, _sfn_normalise_parameters),
    (_SfnService, "_normalise_response", _original_sfn_normalise_response, _sfn_normalise_response),
    (_ParserBackend, "_validate_definition", _original_validate_definition, staticmethod(_validate_definition)),
    (AmazonStateLanguageParser, "parse", _original_asl_parse, staticmethod(_asl_parse)),
)


def install() -> None:
    """Idempotent; `uninstall` restores moto's own behaviour."""
    _method_names_from_class.cache_clear()
    for owner, name, _moto, baton in _ATTRIBUTES:
        setattr(owner, name, baton)
    _set_boto_client_for(_boto_client_for)
    _set_copy_module(_JsonCopy)


def uninstall() -> None:
    for owner, name, moto, _baton in _ATTRIBUTES:
        setattr(owner, name, moto)
    _set_boto_client_for(_original_boto_client_for)
    _set_copy_module(_copy_module)
    _method_names_from_class.cache_clear()
    with _interpreter_clients_lock:
        _interpreter_clients.clear()
    with _validated_lock:
        _validated_shapes.clear()
    with _parse_trees_lock:
        _parse_trees.clear()
    clear()
