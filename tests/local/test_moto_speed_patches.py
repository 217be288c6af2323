"""The speed patches of baton/local/moto_patches.py: they change how fast moto answers, never what it answers.

Pinned to moto 5.2.5: for each patch, one test checks what the patch relies on in moto's (or botocore's) source,
so that an upgrade changing it fails here first, and one checks that moto answers as it does unpatched.
"""

from __future__ import annotations

import copy
import datetime
import importlib
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import responses as moto_responses
from moto.core import serialize as moto_serialize
from moto.core import utils as moto_core_utils
from moto.core.loaders import Loader as MotoLoader
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.utils import boto_client, json_path

from baton.local import moto_patches

# untyped modules, read as such
jsonpath_ng: Any = importlib.import_module("jsonpath_ng")
jsonpath_ng_ext: Any = importlib.import_module("jsonpath_ng.ext")

MOTO = Path(moto.__file__).parent
INTERPRETER = MOTO / "stepfunctions" / "parser"
REGION = "us-east-1"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(MOTO.parent).with_suffix("").parts)


def interpreter_modules_mentioning(text: str) -> set[str]:
    return {module_name(path) for path in INTERPRETER.rglob("*.py") if text in path.read_text()}


@pytest.fixture
def installed() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_patches.install()
        try:
            yield
        finally:
            moto_patches.uninstall()


# ---------------------------------------------------------------- EC2 stays out of the import


def test_what_keeping_ec2_out_relies_on() -> None:
    ssm = (MOTO / "ssm" / "models.py").read_text()
    assert "from moto.ec2 import ec2_backends\n" in ssm
    # its one use: maintenance-window targets that select EC2 instances
    assert ssm.count("ec2_backends") == 2
    assert "ec2_backends[self.account_id][self.backend_region]" in ssm
    assert "moto.ec2" not in ssm.replace("from moto.ec2 import ec2_backends", "")
    batch_service = INTERPRETER / "asl/component/state/exec/state_task/service/state_task_service_batch.py"
    assert "from moto.batch.utils import JobStatus" in batch_service.read_text()
    assert interpreter_modules_mentioning("moto.batch") == {module_name(batch_service)}
    assert interpreter_modules_mentioning("moto.ec2") == set()
    utils = (MOTO / "batch" / "utils.py").read_text()
    assert "moto.ec2" not in utils
    assert "from .models" not in utils
    assert (MOTO / "batch" / "__init__.py").read_text().strip() == "from .models import batch_backends  # noqa: F401"


def test_ssm_and_the_interpreter_import_without_ec2_which_loads_on_first_use() -> None:
    script = """
import sys
import baton.local.moto_patches
import moto.ssm.models
import moto.stepfunctions.parser.models
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_batch
loaded = sorted(name for name in sys.modules if name.startswith(("moto.ec2", "moto.batch.models")))
assert loaded == [], loaded
import moto.batch
from moto.batch.utils import JobStatus
assert state_task_service_batch.JobStatus is JobStatus
assert moto.batch.batch_backends is sys.modules["moto.batch.models"].batch_backends
assert "moto.ec2" in sys.modules
from moto.ec2 import ec2_backends
assert moto.ssm.models.ec2_backends["123456789012"]["us-east-1"] is ec2_backends["123456789012"]["us-east-1"]
"""
    done = subprocess.run(  # noqa: S603 (a fixed script)
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------- JSONPaths parsed once


def test_what_parsing_each_jsonpath_once_relies_on() -> None:
    assert getattr(json_path, "parse") is jsonpath_ng_ext.parse  # noqa: B009
    assert getattr(result_path, "parse") is jsonpath_ng.parse  # noqa: B009
    assert "input_expr = parse(path)" in inspect.getsource(json_path.extract_json)
    assert "result_expr = parse(self.result_path_src)" in inspect.getsource(result_path.ResultPath)
    assert interpreter_modules_mentioning("jsonpath_ng") == {json_path.__name__, result_path.__name__}


def test_a_jsonpath_is_parsed_once_and_evaluated_on_each_input(installed: None) -> None:
    parse = getattr(json_path, "parse")  # noqa: B009
    assert parse("$.a.b") is parse("$.a.b")
    assert json_path.extract_json("$.a.b", {"a": {"b": 1}}) == 1
    assert json_path.extract_json("$.a.b", {"a": {"b": [2]}}) == [2]
    assert json_path.extract_json("$.a[*].b", {"a": [{"b": 1}, {"b": 2}]}) == [1, 2]
    for _ in range(2):  # an invalid path is not cached: it raises each time, as before
        with pytest.raises(Exception):  # noqa: B017, PT011 (whatever jsonpath_ng raises)
            parse("$.a[")
    result = result_path.ResultPath("$.x.y")
    assert getattr(result_path, "parse")("$.x.y") is getattr(result_path, "parse")("$.x.y")  # noqa: B009
    assert result is not None


def test_uninstall_restores_jsonpath_ng(installed: None) -> None:
    moto_patches.uninstall()
    assert getattr(json_path, "parse") is jsonpath_ng_ext.parse  # noqa: B009
    assert getattr(result_path, "parse") is jsonpath_ng.parse  # noqa: B009
    moto_patches.install()


# ---------------------------------------------------------------- one interpreter client a service


def test_what_reusing_interpreter_clients_relies_on() -> None:
    users = interpreter_modules_mentioning("boto_client_for") - {boto_client.__name__}
    assert users == set(moto_patches.BOTO_CLIENT_USERS)
    original = boto_client.boto_client_for
    assert list(inspect.signature(original).parameters) == ["region", "service", "state_credentials"]
    source = inspect.getsource(original)
    # the client depends on the region, the service and whether moto intercepts botocore, nothing else
    assert source.count("state_credentials") == 1
    assert 'aws_access_key_id="ak"' in source
    assert "intercepting_boto_calls = botocore_stubber.enabled" in source


def test_the_interpreter_gets_one_client_per_service(installed: None) -> None:
    lambda_eval_utils: Any = importlib.import_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
    )
    lambda_client = lambda_eval_utils.boto_client_for(region=REGION, service="lambda", state_credentials=None)
    assert lambda_eval_utils.boto_client_for(region=REGION, service="lambda", state_credentials=None) is lambda_client
    dynamodb = lambda_eval_utils.boto_client_for(region=REGION, service="dynamodb", state_credentials=None)
    assert dynamodb is not lambda_client
    assert dynamodb.meta.service_model.service_name == "dynamodb"
    moto_patches.uninstall()
    try:
        assert lambda_eval_utils.boto_client_for is boto_client.boto_client_for
    finally:
        moto_patches.install()


# ---------------------------------------------------------------- botocore data read once


def test_what_sharing_loaders_relies_on() -> None:
    register = inspect.getsource(getattr(botocore.session.Session, "_register_data_loader"))  # noqa: B009
    assert "create_loader(self.get_config_variable('data_path'))" in register
    assert "loader = create_loader()" in inspect.getsource(moto_core_utils._load_service_model)
    assert MotoLoader.BUILTIN_EXTRAS_TYPES == ["moto"]


def test_sessions_share_one_botocore_loader_and_moto_keeps_its_own(installed: None) -> None:
    first = boto3.Session(region_name=REGION)._session.get_component("data_loader")
    second = boto3.Session(region_name=REGION)._session.get_component("data_loader")
    assert first is second
    assert not isinstance(first, MotoLoader)
    moto_loader = getattr(moto_core_utils, "create_loader")()  # noqa: B009
    assert isinstance(moto_loader, MotoLoader)
    assert getattr(moto_core_utils, "create_loader")() is moto_loader  # noqa: B009
    # moto merges its extras into SQS's model; botocore's clients keep botocore's model
    moto_sqs = moto_core_utils._load_service_model("sqs", "service-2")
    shared_sqs = first.load_service_model("sqs", "service-2")
    fresh_sqs = botocore.loaders.Loader().load_service_model("sqs", "service-2")
    assert shared_sqs == fresh_sqs
    assert moto_sqs != fresh_sqs


def test_a_custom_data_path_gets_its_own_loader(installed: None, tmp_path: Path) -> None:
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(tmp_path))
    assert session.get_component("data_loader") is not botocore.session.Session().get_component("data_loader")


# ---------------------------------------------------------------- the interpreter's JSON copies


def test_what_copying_json_directly_relies_on() -> None:
    for name in moto_patches.JSON_COPY_USERS:
        module = sys.modules[name]
        assert module.copy is copy
        assert "copy.deepcopy(" in inspect.getsource(module)


def test_json_values_are_copied_as_deepcopy_copies_them() -> None:
    value = {"a": [1, 2.5, "x", True, None, {"b": []}], "c": {"d": {"e": "f"}}, "n": -3}
    copied = moto_patches._json_deepcopy(value)
    assert copied == copy.deepcopy(value)
    assert json.dumps(copied) == json.dumps(value)
    copied["a"][5]["b"].append(1)
    copied["c"]["d"]["e"] = "g"
    assert value == {"a": [1, 2.5, "x", True, None, {"b": []}], "c": {"d": {"e": "f"}}, "n": -3}


def test_anything_but_json_is_left_to_deepcopy() -> None:
    class Counted:
        copies = 0

        def __deepcopy__(self, memo: dict[int, Any]) -> Counted:
            Counted.copies += 1
            return Counted()

    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    value: dict[str, Any] = {"when": when, "pair": (1, [2]), "object": Counted(), "amount": Decimal("1.5")}
    copied = moto_patches._json_deepcopy(value)
    assert Counted.copies == 1
    assert copied["when"] == when
    assert copied["amount"] == Decimal("1.5")
    assert copied["pair"] == (1, [2])
    assert copied["pair"][1] is not value["pair"][1]


def test_install_and_uninstall_swap_the_copy_module(installed: None) -> None:
    for name in moto_patches.JSON_COPY_USERS:
        assert sys.modules[name].copy.deepcopy is moto_patches._json_deepcopy
    moto_patches.uninstall()
    try:
        for name in moto_patches.JSON_COPY_USERS:
            assert sys.modules[name].copy is copy
    finally:
        moto_patches.install()


# ---------------------------------------------------------------- moto's dispatch: method names per class


def test_what_keeping_method_names_relies_on() -> None:
    assert "method_names = method_names_from_class(self.__class__)" in inspect.getsource(
        moto_responses.BaseResponse.call_action
    )


def test_method_names_are_moto_s_and_kept_per_class(installed: None) -> None:
    names = getattr(moto_responses, "method_names_from_class")(DynamoHandler)  # noqa: B009
    assert names == moto_core_utils.method_names_from_class(DynamoHandler)
    assert "get_item" in names
    assert getattr(moto_responses, "method_names_from_class")(DynamoHandler) is names  # noqa: B009


# ---------------------------------------------------------------- moto's serializer


def test_what_the_serializer_shortcut_relies_on() -> None:
    picker_call = inspect.getsource(moto_serialize.AttributePicker.__call__)
    assert "for possible_key in self.get_possible_keys(context):" in picker_call
    assert "value = get_value(obj, possible_key, MISSING)" in picker_call
    assert "for transform_path, transform in self.response_transformers.items():" in picker_call
    assert "return self._value_picker(context)" in inspect.getsource(moto_serialize.ResponseSerializer.get_value)
    assert getattr(moto_serialize, "get_value") is moto_core_utils.get_value  # noqa: B009
    assert [provider.__name__ for provider in moto_serialize.DEFAULT_ALIAS_PROVIDERS] == [
        "ExplicitAlias",
        "ShapeNameAlias",
        "NoAlias",
        "ShapePrefixAlias",
        "ClassPrefixAlias",
        "ModelAlias",
    ]
    # what the providers read: the object's Meta and class name, the key, the shape and its parent
    for provider in moto_serialize.DEFAULT_ALIAS_PROVIDERS:
        source = inspect.getsource(provider)
        reads = {word for word in ("context.obj", "context.shape", "context.key_path") if word in source}
        assert reads <= {"context.obj", "context.shape"}
        if "context.obj" in source:
            assert provider.__name__ in ("ExplicitAlias", "ClassPrefixAlias")


ITEM = {
    "pk": {"S": "p"},
    "sk": {"S": "1"},
    "n": {"N": "12.5"},
    "b": {"B": b"\x00\x01bytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2"]},
    "bs": {"BS": [b"x", b"y"]},
    "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}, {"BOOL": False}]}}},
    "empty": {"S": ""},
}


def _without_request_ids(response: Any) -> Any:
    if isinstance(response, dict):
        return {k: _without_request_ids(v) for k, v in response.items() if k != "ResponseMetadata"}
    if isinstance(response, list):
        return [_without_request_ids(v) for v in response]
    return response


def test_responses_are_serialized_as_moto_serializes_them(installed: None) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for sk in ("1", "2", "3"):
        ddb.put_item(TableName="t", Item={**ITEM, "sk": {"S": sk}})
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = boto3.client("iam", region_name=REGION).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$.x", "list": [1, {"a": None}]}, "End": True}},
    }
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=role["Role"]["Arn"])[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=machine, name="e", input=json.dumps({"x": {"y": [1, "2"]}}))
    while sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
        pass

    def read() -> Any:
        return _without_request_ids(
            [
                ddb.query(
                    TableName="t",
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p"}},
                    ReturnConsumedCapacity="TOTAL",
                ),
                ddb.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "2"}}),
                ddb.scan(TableName="t", Limit=2),
                ddb.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "p"}, "sk": {"S": "3"}}]}}),
                ddb.describe_table(TableName="t"),
                ddb.update_item(
                    TableName="t",
                    Key={"pk": {"S": "p"}, "sk": {"S": "1"}},
                    UpdateExpression="SET n = n + :one",
                    ExpressionAttributeValues={":one": {"N": "0"}},
                    ReturnValues="ALL_NEW",
                ),
                sfn.describe_state_machine(stateMachineArn=machine),
                sfn.describe_execution(executionArn=execution["executionArn"]),
                sfn.get_execution_history(executionArn=execution["executionArn"]),
                sfn.list_executions(stateMachineArn=machine),
            ]
        )

    patched = read()
    setattr(moto_serialize.ResponseSerializer, "get_value", moto_patches._original_serializer_get_value)  # noqa: B010
    try:
        plain = read()
    finally:
        setattr(moto_serialize.ResponseSerializer, "get_value", moto_patches._serializer_get_value)  # noqa: B010
    assert patched == plain
    assert patched[1]["Item"]["b"] == {"B": b"\x00\x01bytes"}
    assert patched[8]["events"][-1]["type"] == "ExecutionSucceeded"


# ---------------------------------------------------------------- a definition's shape validated once


def _definition(function: str, wait: str = "Seconds") -> str:
    return json.dumps(
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": f"arn:aws:lambda:us-east-1:123456789012:function:{function}"},
                    "Next": "Pause",
                },
                "Pause": {"Type": "Wait", wait: 0, "End": True},
            },
        }
    )


def test_what_validating_each_shape_once_relies_on() -> None:
    from moto.stepfunctions.parser import models as sfn_parser_models

    backend = sfn_parser_models.StepFunctionsParserBackend
    assert isinstance(backend.__dict__["_validate_definition"], staticmethod)
    assert "_validate_definition(definition=definition)" in inspect.getsource(backend.create_state_machine)


def test_definitions_differing_only_in_function_arns_are_parsed_once_and_an_invalid_one_always_raises(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser import models as sfn_parser_models

    # Given moto's parser, counted
    parsed: list[str] = []
    original = sfn_parser_models.AmazonStateLanguageParser.parse

    def counting(definition: str) -> Any:
        parsed.append(definition)
        return original(definition)

    monkeypatch.setattr(sfn_parser_models.AmazonStateLanguageParser, "parse", staticmethod(counting))
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/sfn"
    # When two state machines differing only in the function they call are created
    for name in ("first", "second"):
        sfn.create_state_machine(name=name, definition=_definition(f"fn-{name}"), roleArn=role)
    # Then the definition was validated once, and both exist
    assert len(parsed) == 1
    assert {m["name"] for m in sfn.list_state_machines()["stateMachines"]} == {"first", "second"}
    # ... and an invalid definition is refused each time it is offered (a failure is never kept)
    for name in ("bad-1", "bad-2"):
        with pytest.raises(ClientError, match="ASLParserException"):
            sfn.create_state_machine(name=name, definition=_definition("fn", wait="NotAField"), roleArn=role)
    assert len(parsed) == 3


def test_uninstall_restores_moto_s_validation(installed: None) -> None:
    from moto.stepfunctions.parser import models as sfn_parser_models

    moto_patches.uninstall()
    backend = sfn_parser_models.StepFunctionsParserBackend
    assert backend.__dict__["_validate_definition"] is moto_patches._original_validate_definition


# ---------------------------------------------------------------- a definition read by ANTLR once


def test_what_reading_each_definition_once_relies_on() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # moto's parse is ANTLR's tree, then a new Preprocessor's program built from that tree alone
    assert isinstance(AmazonStateLanguageParser.__dict__["parse"], staticmethod)
    source = inspect.getsource(AmazonStateLanguageParser.parse)
    assert "preprocessor = Preprocessor()" in source
    assert "program = preprocessor.visit(tree)" in source
    assert "return program, tree" in source
    # each execution builds its program through it
    assert "AmazonStateLanguageParser.parse(" in inspect.getsource(ExecutionWorker._get_evaluation_entrypoint)


def _passing(suffix: str) -> str:
    return json.dumps(
        {
            "StartAt": "Shape",
            "States": {
                "Shape": {"Type": "Pass", "Parameters": {"seen.$": "$.value", "suffix": suffix}, "Next": "Done"},
                "Done": {"Type": "Pass", "End": True},
            },
        }
    )


def test_each_definition_is_read_by_antlr_once_and_each_execution_gets_a_program_of_its_own(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser

    # Given ANTLR's parser of state machines, counted
    read: list[None] = []
    original = ASLParser.state_machine

    def counting(parser: Any) -> Any:
        read.append(None)
        return original(parser)

    monkeypatch.setattr(ASLParser, "state_machine", counting)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/sfn"
    # When a state machine is created and executed three times with different inputs
    machine = sfn.create_state_machine(name="m", definition=_passing("a"), roleArn=role)["stateMachineArn"]
    outputs = []
    for index, value in enumerate((1, "two", [3])):
        started = sfn.start_execution(stateMachineArn=machine, name=f"e{index}", input=json.dumps({"value": value}))
        execution = started["executionArn"]
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            pass
        outputs.append(json.loads(described["output"]))
    # Then ANTLR read its definition once, and each execution answered its own input
    assert len(read) == 1
    assert outputs == [{"seen": 1, "suffix": "a"}, {"seen": "two", "suffix": "a"}, {"seen": [3], "suffix": "a"}]
    # and a parse of a known definition is a new program from the same tree
    first, second = moto_patches._asl_parse(_passing("a")), moto_patches._asl_parse(_passing("a"))
    assert first[1] is second[1]
    assert first[0] is not second[0]
    # and another definition is read on its own
    sfn.create_state_machine(name="other", definition=_passing("b"), roleArn=role)
    assert len(read) == 2


def test_a_definition_that_does_not_parse_is_refused_every_time(installed: None) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException

    # Given a definition ANTLR refuses / When it is parsed twice / Then both raise, and nothing is kept
    broken = _passing("a").replace('"Pass"', '"NoSuchType"')
    for _ in range(2):
        with pytest.raises(ASLParserException):
            moto_patches._asl_parse(broken)
    assert broken not in moto_patches._parse_trees


def test_what_the_two_stage_parse_relies_on() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # moto parses with ANTLR's default prediction (full LL) and reports syntax errors through its own listener
    source = inspect.getsource(AmazonStateLanguageParser.parse)
    assert "predictionMode" not in source
    assert "parser.addErrorListener(syntax_error_listener)" in source
    assert "tree = parser.state_machine()" in source


def _baton_definitions() -> dict[str, str]:
    """Every definition Baton deploys offline: Standard, Express, and the one runs started before inline stages
    still finish on (tests/local/test_inline_stages.py), with function ARNs filled in."""
    from baton.statemachine import DEFINITION_FILE, definition_text, render_definition_text

    texts = {
        "standard": definition_text("standard"),
        "express": definition_text("express"),
        "before inline stages": (Path(__file__).parent / "orchestration_before_inline.asl.json").read_text(),
    }
    assert DEFINITION_FILE.read_text() == texts["standard"]
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orchestrator"
    return {
        name: render_definition_text(text, dict.fromkeys(set(re.findall(r"\$\{(\w+)\}", text)), arn))
        for name, text in texts.items()
    }


@pytest.mark.parametrize("name", ["standard", "express", "before inline stages"])
def test_the_sll_stage_reads_baton_s_definitions_as_moto_s_ll_parse_does(name: str) -> None:
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser

    # Given a definition Baton deploys / When the SLL stage and moto's own parse read it
    definition = _baton_definitions()[name]
    sll = moto_patches._sll_tree(definition)
    _, ll = moto_patches._original_asl_parse.__func__(definition)
    # Then SLL needed no fallback, and both trees are the same, node for node
    assert sll is not None
    assert sll.toStringTree(recog=ASLParser) == ll.toStringTree(recog=ASLParser)


def _where(errors: list[str]) -> list[str]:
    return [error.split(",", 1)[0] for error in errors]  # "line 1:165, at <EOF>, ..." -> "line 1:165"


@pytest.mark.parametrize(
    "broken",
    [
        _passing("a").replace('"Pass"', '"NoSuchType"'),
        _passing("a").replace('"StartAt"', '"StartsAt"'),
        _passing("a")[:-1],
        '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "End": "yes"}}}',
    ],
)
def test_a_definition_sll_refuses_raises_moto_s_own_errors_from_the_ll_parse(installed: None, broken: str) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException

    # Given a definition with a syntax error, and what moto's own parse says of it
    with pytest.raises(ASLParserException) as moto_says:
        moto_patches._original_asl_parse.__func__(broken)
    # When the patched parse reads it / Then the SLL stage gave up and moto's parse found the errors it finds
    assert moto_patches._sll_tree(broken) is None
    with pytest.raises(ASLParserException) as patched_says:
        moto_patches._asl_parse(broken)
    # (where: the wording of ANTLR's recovery depends on its shared prediction cache, and moto's own first and
    # second parse of a truncated definition already word it differently)
    assert _where(patched_says.value.errors) == _where(moto_says.value.errors)
    assert broken not in moto_patches._parse_trees


def test_uninstall_restores_moto_s_parse_and_forgets_the_trees(installed: None) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    moto_patches._asl_parse(_passing("a"))
    moto_patches.uninstall()
    assert AmazonStateLanguageParser.__dict__["parse"] is moto_patches._original_asl_parse
    assert moto_patches._parse_trees == {}
