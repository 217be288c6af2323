"""What a function's X-Ray trace holds: its handler's subsegment, AWS calls and annotations, never its response.

Each case runs in a fresh process set up as Lambda sets one up (LAMBDA_TASK_ROOT, a sampled trace id, the daemon's
address), with the real X-Ray SDK and Powertools' Tracer behind baton.observability's tracer: the segments it sends
land on a UDP socket on the loopback, standing in for the X-Ray daemon, and are read from there. (A process of its
own: building the tracer patches botocore for the life of the process.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

# the handler returns what an agent function returns: its tool's output, here a customer's card and e-mail
SECRET_CARD = "4111111111111111"
SECRET_MAIL = "victim@example.com"

_PROCESS = """
import json, os, socket, sys
daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
daemon.bind(("127.0.0.1", 0))
daemon.settimeout(0.2)
os.environ.update({
    "LAMBDA_TASK_ROOT": os.getcwd(),
    "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "true",  # Powertools' own switch: Baton's tracer does not read it
})
os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)
from baton.observability import LazyTracer

tracer = LazyTracer(service="baton")

@tracer.capture_lambda_handler
def handler(event, context):
    tracer.put_annotation(key="run_id", value="refund_1")
    return {"entry_json": json.dumps({"output": {"card": %(card)r, "email": %(mail)r}})}

handler({}, None)
segments = []
while True:
    try:
        datagram = daemon.recv(65535)
    except TimeoutError:
        break
    segments.append(json.loads(datagram.split(b"\\n", 1)[1]))
print(json.dumps(segments))
"""


def _segments_of_one_traced_invocation() -> list[dict[str, Any]]:
    code = _PROCESS % {"card": SECRET_CARD, "mail": SECRET_MAIL}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603 (this test's code)
    segments: list[dict[str, Any]] = json.loads(done.stdout)
    return segments


@pytest.mark.attack("ASI03")
def test_a_functions_trace_never_holds_its_response() -> None:
    # Given a handler traced as Baton's functions are, returning a tool's output with a customer's card and e-mail,
    # and Powertools' own switch for recording responses turned on
    # When it is invoked once in a Lambda-like process
    segments = _segments_of_one_traced_invocation()
    # Then X-Ray received the handler's subsegment, annotated (tracing is on: the trace is not silently dropped)
    handler = next(s for s in segments if s.get("name") == "## handler")
    assert {"ColdStart", "Service", "run_id"} <= set(handler.get("annotations", {}))
    # and nothing X-Ray received holds the response: no metadata of it, no card, no e-mail
    sent = json.dumps(segments)
    assert SECRET_CARD not in sent
    assert SECRET_MAIL not in sent
    assert "handler response" not in sent
