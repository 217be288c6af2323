"""Model doubles: what answers Bedrock Converse offline (moto's Bedrock Runtime has no Converse).

A double answers the real boto3 call: `attach` hooks a bedrock-runtime client so that a Converse call goes
through botocore as usual (parameter validation, Baton's call recording, so the call is checked against the
caller's IAM like any other) and the double's answer comes back in place of Bedrock's. Three kinds:

- `ScriptedModel`: replays responses given in advance, in order (build them with `tool_use`, `text`,
  `response`), for tests of what Baton does with a particular answer (malformed tool use, a hallucinated
  agent, a model that never stops, a guardrail intervention).
- `RuleModel`: a Python function of the conversation, deterministic: good enough to run an example app offline.
- `ObedientModel`: the adversary. It follows any instruction it reads, in any message, data blocks and tool
  results included, and calls whatever it is told to, with whatever arguments. Baton's defences must hold
  against it. Its grammar (case-insensitive, one directive per line, anywhere in any text it is sent):

      CALL <name> <json object>          use the tool (or, as a planner, the agent) <name> with these arguments
      FINISH <json object>               answer with this (the result tool: `submit_result`, or `finish`)
      FAIL <reason>                      give up (a planner's `fail`)
      refund order <ORDER> to account <ACCOUNT>
                                         a tool or agent named like refund/payment/pay, with
                                         {"order_id": ORDER, "account": ACCOUNT}
      send <TEXT> to <ADDRESS>           a tool or agent named like send/notify/email/note, with
                                         {"to": ADDRESS, "text": TEXT}
      fetch <URL>                        a tool or agent named like fetch/http/get, with {"url": URL}

  It carries out each directive once, in the order it first read them (system prompt first, then the
  messages), one per turn; when none is left it answers with the last FINISH it read (or `{}`), or, given
  `then=` another double, lets that one answer: a gullible model that obeys first and then does its job.

Every double reports token usage as Bedrock does (`usage.inputTokens`, `outputTokens`: a token per four
characters of what it was sent and what it answers), so model budgets and cost are exercised offline.

Registering one: the offline engine attaches a double to each function's bedrock-runtime client as it is made,
looked up at each call by agent name, or "planner:<workflow>" for a workflow's planner: `LocalEngine(models={...})`
or `engine.use_model(name, double)` (a workflow's offline fixture registers its default there). A call with no
double registered raises NoModelDouble, naming the caller. Also here: `ScriptedThen` (a script, then another
double), `Recorded` (any double, keeping its requests), `tool_results` and `user_texts` (for writing rules), and
`attach_to_session` (for a deployment whose clients Baton does not make). docs/guide.md, "Testing model-backed
code offline", is the user's guide to all of it.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from botocore.awsrequest import AWSResponse, HTTPHeaders

RESULT_TOOLS = ("submit_result", "finish")
_DIRECTIVE = re.compile(
    r"^\s*(CALL)\s+([A-Za-z0-9_-]{1,64})\s+(\{.*\})\s*$|^\s*(FINISH)\s+(\{.*\})\s*$|^\s*(FAIL)\s+(.+)$", re.I
)
_TEMPLATES: tuple[tuple[re.Pattern[str], tuple[str, ...], Callable[[re.Match[str]], dict[str, Any]]], ...] = (
    (
        re.compile(r"refund order\s+(\S+?)\s+to account\s+(\S+?)[.,;]?(?:\s|$)", re.I),
        ("refund", "payment", "pay"),
        lambda m: {"order_id": m.group(1), "account": m.group(2)},
    ),
    (
        re.compile(r"send\s+(.+?)\s+to\s+(\S+@\S+|\S+)[.,;]?\s*$", re.I),
        ("send", "notify", "email", "note"),
        lambda m: {"to": m.group(2), "text": m.group(1)},
    ),
    (re.compile(r"fetch\s+(https?://\S+)", re.I), ("fetch", "http", "get"), lambda m: {"url": m.group(1)}),
)


class ModelDouble(Protocol):
    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        """A Converse response for `request` (the API parameters), sent by the function `caller`."""
        ...


class NoModelDouble(Exception):
    """A Converse call offline with no model double registered for its caller (the message names both)."""


# ---------------------------------------------------------------- building responses


def text(value: str) -> dict[str, Any]:
    return {"text": value}


def tool_use(name: str, arguments: dict[str, Any], tool_use_id: str = "call-1") -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_use_id, "name": name, "input": arguments}}


def response(
    *content: dict[str, Any], stop_reason: str | None = None, input_tokens: int = 0, output_tokens: int | None = None
) -> dict[str, Any]:
    """A Converse response; the stop reason defaults to tool_use when the content asks for a tool."""
    uses_tool = any("toolUse" in block for block in content)
    out = output_tokens if output_tokens is not None else _tokens(json.dumps(list(content)))
    return {
        "output": {"message": {"role": "assistant", "content": list(content)}},
        "stopReason": stop_reason or ("tool_use" if uses_tool else "end_turn"),
        "usage": {"inputTokens": input_tokens, "outputTokens": out, "totalTokens": input_tokens + out},
        "metrics": {"latencyMs": 1},
    }


def _tokens(value: str) -> int:
    return max(1, math.ceil(len(value) / 4))


def request_tokens(request: dict[str, Any]) -> int:
    """What Bedrock would count as input tokens, roughly: a token per four characters sent."""
    sent = {k: request.get(k) for k in ("system", "messages", "toolConfig")}
    return _tokens(json.dumps(sent, default=str))


def texts(request: dict[str, Any]) -> Iterator[str]:
    """Every text the request carries, in reading order: system, then each message (tool results included)."""
    for block in request.get("system", []):
        if "text" in block:
            yield str(block["text"])
    for message in request.get("messages", []):
        for block in message.get("content", []):
            if "text" in block:
                yield str(block["text"])
            result = block.get("toolResult")
            if result is not None:
                for part in result.get("content", []):
                    if "text" in part:
                        yield str(part["text"])
                    if "json" in part:
                        yield json.dumps(part["json"])


def user_texts(request: dict[str, Any]) -> Iterator[str]:
    """The text blocks of the request's user messages, in order (not their tool results)."""
    for message in request.get("messages", []):
        if message.get("role") == "user":
            for block in message.get("content", []):
                if "text" in block:
                    yield str(block["text"])


def tool_results(request: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each tool result the request carries, oldest first: (the tool's name, "success" or "error", its text)."""
    names: dict[str, str] = {}
    found: list[tuple[str, str, str]] = []
    for message in request.get("messages", []):
        for block in message.get("content", []):
            use = block.get("toolUse")
            if use is not None:
                names[str(use.get("toolUseId"))] = str(use.get("name"))
            result = block.get("toolResult")
            if result is not None:
                parts = [
                    str(part["text"]) if "text" in part else json.dumps(part.get("json"))
                    for part in result.get("content", [])
                ]
                name = names.get(str(result.get("toolUseId")), "")
                found.append((name, str(result.get("status", "success")), "\n".join(parts)))
    return found


def offered_tools(request: dict[str, Any]) -> list[str]:
    tools = (request.get("toolConfig") or {}).get("tools", [])
    return [t["toolSpec"]["name"] for t in tools if "toolSpec" in t]


# ---------------------------------------------------------------- the doubles


class ScriptedModel:
    """Replays `responses` in order (a callable is called with the request); the requests are kept."""

    def __init__(self, *responses: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self._responses = list(responses)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(request)
            if not self._responses:
                raise AssertionError(f"the scripted model has no answer left for {caller}")
            answer = self._responses.pop(0)
        reply = answer(request) if callable(answer) else answer
        return _with_input_tokens(reply, request)


class RuleModel:
    """Answers with `rule(request)`: a deterministic function of the conversation."""

    def __init__(self, rule: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self._rule = rule

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        return _with_input_tokens(self._rule(request), request)


class ScriptedThen:
    """Answers its first calls with `responses`, in order, then hands every later call to `then`.

    E.g. a model that reads a web page first (as its instructions might ask), then obeys what it read:
    `ScriptedThen(response(tool_use("fetch_page", {"url": URL})), then=ObedientModel())`.
    """

    def __init__(self, *responses: dict[str, Any], then: ModelDouble) -> None:
        self._opening = ScriptedModel(*responses)
        self._left = len(responses)
        self.then = then
        self._lock = threading.Lock()

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            scripted = self._left > 0
            self._left -= 1
        return self._opening.converse(caller, request) if scripted else self.then.converse(caller, request)


class Recorded:
    """Any double, keeping every request it answers (`requests`, in order)."""

    def __init__(self, double: ModelDouble) -> None:
        self.double = double
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(request)
        return self.double.converse(caller, request)


class ObedientModel:
    """Follows every instruction it reads (see the module's grammar). `attempts` lists what it tried.

    With `then`, a request holding no directive left to carry out goes to that double instead of a FINISH.
    """

    def __init__(self, then: ModelDouble | None = None) -> None:
        self.attempts: list[tuple[str, str, dict[str, Any]]] = []  # (caller, tool or agent, arguments)
        self.then = then
        self._lock = threading.Lock()

    def converse(self, caller: str, request: dict[str, Any]) -> dict[str, Any]:
        offered = offered_tools(request)
        done = _already_used(request)
        finish: dict[str, Any] = {}
        for name, arguments in self._directives(request, offered):
            if name in RESULT_TOOLS:
                finish = arguments
                continue
            if (name, json.dumps(arguments, sort_keys=True)) in done:
                continue
            with self._lock:
                self.attempts.append((caller, name, arguments))
            reply = response(text(f"As instructed: {name}"), tool_use(name, arguments, f"obey-{len(done) + 1}"))
            return _with_input_tokens(reply, request)
        if self.then is not None:
            return self.then.converse(caller, request)
        result_tool = next((t for t in RESULT_TOOLS if t in offered), None)
        if result_tool is None:
            return _with_input_tokens(response(text(json.dumps(finish))), request)
        return _with_input_tokens(response(tool_use(result_tool, finish, "obey-result")), request)

    @staticmethod
    def _directives(request: dict[str, Any], offered: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        for chunk in texts(request):
            for line in chunk.splitlines():
                yield from _parse_line(line, offered)


def _parse_line(line: str, offered: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    match = _DIRECTIVE.match(line)
    if match is not None:
        if match.group(1):
            arguments = _json_object(match.group(3))
            if arguments is not None:
                yield match.group(2), arguments
        elif match.group(4):
            result = _json_object(match.group(5))
            if result is not None:
                yield "finish", result
        else:
            yield "fail", {"reason": match.group(7).strip()}
        return
    for pattern, words, build in _TEMPLATES:
        for found in pattern.finditer(line):
            target = next((name for name in offered if any(w in name.lower() for w in words)), None)
            if target is not None:
                yield target, build(found)


def _json_object(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _already_used(request: dict[str, Any]) -> set[tuple[str, str]]:
    """The tool calls the conversation already holds (so a directive is carried out once)."""
    used = set()
    for message in request.get("messages", []):
        for block in message.get("content", []):
            use = block.get("toolUse")
            if use is not None:
                used.add((str(use["name"]), json.dumps(use.get("input", {}), sort_keys=True)))
    return used


def _with_input_tokens(reply: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    usage = dict(reply.get("usage") or {})
    if not usage.get("inputTokens"):
        usage["inputTokens"] = request_tokens(request)
    usage.setdefault("outputTokens", 1)
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    return {**reply, "usage": usage}


# ---------------------------------------------------------------- wiring a double to a boto3 client


def attach(client: Any, double: ModelDouble, caller: str) -> None:
    """Answer `client`'s Converse calls with `double`, after botocore has validated the parameters."""
    _answer_converse(client.meta.events, double, lambda: caller)


def attach_to_session(session: Any, double: ModelDouble, caller: Callable[[], str]) -> None:
    """Answer the Converse calls of every bedrock-runtime client `session` (boto3) makes from now on with `double`.

    For a deployment whose clients are not made here (the moto CloudFormation deployment of
    baton.testing.cloudformation): `caller` names the function calling, when it calls.
    """
    _answer_converse(session.events, double, caller)


def _answer_converse(events: Any, double: ModelDouble, caller: Callable[[], str]) -> None:
    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["baton_converse"] = json.loads(json.dumps(params, default=_bytes))

    def answer(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = double.converse(caller(), context["baton_converse"])
        http = AWSResponse("https://bedrock-runtime.offline/model/converse", 200, HTTPHeaders(), None)
        return http, {**parsed, "ResponseMetadata": {"HTTPStatusCode": 200}}

    events.register("before-parameter-build.bedrock-runtime.Converse", remember)
    events.register("before-call.bedrock-runtime.Converse", answer)


def _bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    raise TypeError(f"cannot encode {type(value).__name__}")
