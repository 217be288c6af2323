"""MCP tools, pinned: one tool of a remote MCP server (streamable HTTP) as a Baton tool.

Declaring. `baton mcp pin URL TOOL` lists the server's tools and prints a declaration to paste: `mcp_tool(...)` with
an McpToolRef (baton.catalog) holding the tool's description and input schema as the server gave them, and their
pin, the SHA-256 of their canonical JSON:

    pin_sha256 = sha256(canonical_json({"name": NAME, "description": DESCRIPTION, "inputSchema": INPUT_SCHEMA}))

canonical_json is `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)` encoded as
UTF-8: object keys sorted at every depth, no whitespace, strings escaped as JSON escapes them (non-ASCII kept as
is), numbers as Python writes them (1 and 1.0 differ, as the server's JSON wrote them); a tool without a description
hashes `"description": null`. Not pinned: the title, annotations and output schema. Agents read the catalog's own
description of the tool, the side effect is the declaration's (never the server's hints), every result is untrusted.

Calling. The tool's implementation, `call_pinned_tool`:
1. validates the arguments against the pinned input schema with jsonschema, which the mcp SDK depends on already
   and which implements the whole of JSON Schema the server declared (a pydantic model derived from the schema,
   `arguments_model`, checks the shape of each argument first; it cannot express every keyword). Nothing is sent
   for arguments the pinned schema refuses (ToolArgumentsInvalid);
2. reads the bearer token, if the tool names a secret, through the secrets broker (ToolContext.secret), which
   registers it with the redactor: it is masked wherever text leaves the function;
3. opens a session with the SDK's streamable HTTP client, lists the server's tools (every page), finds the pinned
   tool and hashes it: a tool that is missing, or whose description or input schema changed since it was pinned (a
   rug pull, a poisoned description), is refused with McpToolChanged (a ToolDenied, audited as a denial, naming
   what changed), and nothing is called;
4. calls it; its result is the remote server's words, untrusted: the ToolBox taints the task (an MCP tool never
   claims trusted output), so an irreversible tool after it needs the declared exception or an approval.

Every HTTP request the SDK makes goes through Baton's one egress transport (baton.mcp_client): the tool's egress
allowlist, Baton's redirect rules and, on AWS, PinnedTransport's address checks apply to each. The `mcp` package (the
`baton[mcp]` extra) is imported by `call_pinned_tool` and `pin` only: a function whose agent has no MCP tool never
loads it, nor does loading a catalog that declares one.
"""

from __future__ import annotations

import hashlib
import json
import pprint
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, create_model

from baton.catalog import MCP_IMPLEMENTATION, MCP_URL_PATTERN, NAME_PATTERN, McpToolRef, SideEffect, ToolSpec
from baton.tools import AgentTaskFailed, RetryableToolError, ToolArgumentsInvalid, ToolDenied

if TYPE_CHECKING:
    from baton.http import HttpTransport
    from baton.tools import ToolContext

DEFAULT_HTTPS_PORT = 443
DEFAULT_HTTP_PORT = 80


class McpToolChanged(ToolDenied):
    """The pinned tool is missing from the server, or its description or input schema changed: nothing was called."""


class McpToolError(AgentTaskFailed):
    """The server answered with an error (a JSON-RPC error, or a tool result flagged isError): untrusted words."""


class McpUnavailable(RetryableToolError):
    """The server could not be reached or the session broke off; the message names the server only."""


class McpPinError(Exception):
    """`baton mcp pin` could not pin: the server is unreachable, refuses, or does not list the tool."""


# ---------------------------------------------------------------- the pin


def canonical_json(value: Any) -> bytes:
    """The canonical JSON the pin hashes (module docstring): sorted keys, no whitespace, UTF-8."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def pin_sha256(name: str, description: str | None, input_schema: Mapping[str, Any]) -> str:
    """The pin of an MCP tool: SHA-256 of the canonical JSON of its name, description and input schema."""
    document = {"name": name, "description": description, "inputSchema": input_schema}
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True)
class ListedTool:
    """One tool as a server lists it: what the pin covers."""

    name: str
    description: str | None
    input_schema: dict[str, Any]

    @property
    def sha256(self) -> str:
        return pin_sha256(self.name, self.description, self.input_schema)


def changes(ref: McpToolRef, listed: ListedTool | None) -> list[str]:
    """What differs between the pinned tool and the one the server lists now (empty: the pin holds)."""
    if listed is None:
        return ["missing"]
    if listed.sha256 == ref.pinned_sha256:
        return []
    found = []
    if listed.description != ref.description:
        found.append("description")
    if canonical_json(listed.input_schema) != canonical_json(ref.input_schema):
        found.append("input schema")
    return found or ["name"]  # same description and schema but another hash: the name itself (never by lookup)


def check_pin(ref: McpToolRef, listed: ListedTool | None, host: str) -> None:
    """Refuse (McpToolChanged) unless the server lists the pinned tool exactly as it was pinned."""
    if listed is None:
        raise McpToolChanged(f"MCP server {host} no longer lists the pinned tool {ref.tool!r}: refused")
    changed = changes(ref, listed)
    if changed:
        raise McpToolChanged(
            f"MCP tool {ref.tool!r} at {host} changed since it was pinned ({', '.join(changed)}; pinned "
            f"{ref.pinned_sha256[:12]}, now {listed.sha256[:12]}): refused, pin it again after review"
        )


# ---------------------------------------------------------------- arguments


class McpArguments(BaseModel):
    """Base of the argument models derived from pinned input schemas: strict (no coercion: what is validated is
    what is sent), extra fields forbidden (stricter than a schema allowing additional properties), JSON names."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": int | float,
    "boolean": bool,
    "null": type(None),
    "object": dict[str, Any],
}
_MAX_DEPTH = 6
_MODELS: dict[tuple[str, str], type[BaseModel]] = {}
_MODELS_LOCK = threading.Lock()


def arguments_model(ref: McpToolRef) -> type[BaseModel]:
    """A pydantic model of the pinned input schema's properties (the arguments' shape; jsonschema checks the rest).

    Each property is a field of its JSON name (an alias: any name works), typed from its schema's `type`, `enum` or
    `const` (Any where the schema says more: anyOf, oneOf, $ref...), required as the schema says. One model per pin,
    so two catalogs declaring the same pinned tool declare equal ToolSpecs.
    """
    key = (ref.tool, ref.pinned_sha256)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _derive(ref)
            _MODELS[key] = model
    return model


def _derive(ref: McpToolRef) -> type[BaseModel]:
    properties = ref.input_schema.get("properties")
    required = ref.input_schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    fields: dict[str, Any] = {}
    for index, (name, schema) in enumerate(properties.items() if isinstance(properties, dict) else ()):
        annotation = _annotation(schema, 0)
        description = schema.get("description") if isinstance(schema, dict) else None
        extra = {"alias": name, "title": name, "description": description if isinstance(description, str) else None}
        if name in required_names:
            fields[f"a{index}"] = (annotation, Field(..., **extra))
        else:
            fields[f"a{index}"] = (annotation | None, Field(None, **extra))
    model: type[BaseModel] = create_model(_class_name(ref.tool), __base__=McpArguments, __module__=__name__, **fields)
    return model


def _annotation(schema: Any, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return Any
    for key in ("const", "enum"):
        if key in schema:
            values = [schema[key]] if key == "const" else schema[key]
            literal = isinstance(values, list) and values and all(_literal_value(v) for v in values)
            return Literal.__getitem__(tuple(values)) if literal else Any
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    annotations = [_type_annotation(str(k), schema, depth) for k in kinds if isinstance(k, str)]
    if not annotations or Any in annotations or len(annotations) != len(kinds):
        return Any
    return annotations[0] if len(annotations) == 1 else Union.__getitem__(tuple(annotations))


def _type_annotation(kind: str, schema: dict[str, Any], depth: int) -> Any:
    if kind == "array":
        items = schema.get("items")
        return list[_annotation(items, depth + 1) if isinstance(items, dict) else Any]  # type: ignore[misc]
    return _JSON_TYPES.get(kind, Any)


def _literal_value(value: Any) -> bool:
    return value is None or isinstance(value, str | int | bool)


def _class_name(tool: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", tool)
    return "".join(word[:1].upper() + word[1:] for word in words if word) + "McpArguments"


def check_arguments(ref: McpToolRef, arguments: dict[str, Any]) -> None:
    """Refuse (ToolArgumentsInvalid) arguments the pinned input schema does not accept, or a schema that is not one.

    A `$ref` resolves within the schema only: jsonschema's default would fetch a remote one with urllib, outside the
    egress transport, so it is given an empty registry that retrieves nothing, and such a schema is refused.
    """
    # jsonschema ships no type information; its use here is two calls
    from jsonschema import validators  # type: ignore[import-untyped]
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
    from referencing import Registry

    schema = ref.input_schema
    validator_class = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
        errors = list(validator_class(schema, registry=Registry()).iter_errors(arguments))
    except SchemaError:
        raise ToolArgumentsInvalid(
            f"MCP tool {ref.tool!r}: its pinned input schema is not a valid JSON Schema"
        ) from None
    except Exception as error:  # an unresolvable $ref, for one
        raise ToolArgumentsInvalid(
            f"MCP tool {ref.tool!r}: its pinned input schema could not be applied ({type(error).__name__})"
        ) from None
    if errors:
        first = min(errors, key=lambda error: (len(error.absolute_path), str(list(error.absolute_path))))
        where = "/".join(str(part) for part in first.absolute_path) or "(the arguments)"
        raise ToolArgumentsInvalid(
            f"MCP tool {ref.tool!r} refused its arguments before any call: {where} fails the pinned input schema "
            f"({first.validator}: {first.message[:200]})"
        )


# ---------------------------------------------------------------- declaring


def egress_entry(server_url: str) -> str:
    """The egress entry that admits a server URL's origin ("host", "host:port" or "http://host[:port]")."""
    parts = urlsplit(server_url)
    host = parts.hostname or ""
    if parts.scheme == "http":
        return f"http://{host}" if parts.port in (None, DEFAULT_HTTP_PORT) else f"http://{host}:{parts.port}"
    return host if parts.port in (None, DEFAULT_HTTPS_PORT) else f"{host}:{parts.port}"


def mcp_tool(
    *,
    name: str,
    description: str,
    side_effect: SideEffect,
    ref: McpToolRef,
    arguments: type[BaseModel] | None = None,
    egress: tuple[str, ...] | None = None,
    follow_redirects: bool = False,
    untrusted_arguments_allowed: str | None = None,
) -> ToolSpec:
    """The ToolSpec of a pinned MCP tool: implementation MCP_IMPLEMENTATION, arguments derived from the pinned input
    schema unless declared (a model with extra="forbid"), egress the server's origin unless declared, the bearer
    token's secret among its secrets, output untrusted. `description` is what agents read (the catalog's words)."""
    return ToolSpec(
        name=name,
        description=description,
        implementation=MCP_IMPLEMENTATION,
        arguments=arguments or arguments_model(ref),
        side_effect=side_effect,
        secrets=(ref.secret,) if ref.secret else (),
        egress=egress if egress is not None else (egress_entry(ref.server_url),),
        follow_redirects=follow_redirects,
        untrusted_arguments_allowed=untrusted_arguments_allowed,
        mcp=ref,
    )


def catalog_name(tool: str) -> str:
    """A catalog tool name (NAME_PATTERN) for an MCP tool's name."""
    name = re.sub(r"[^a-z0-9]+", "_", tool.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"mcp_{name}".rstrip("_")
    return name[:48].rstrip("_")


def declaration(server_url: str, listed: ListedTool, *, name: str | None = None, secret: str | None = None) -> str:
    """The Python to paste into a catalog's tools: `mcp_tool(...)` with the pinned McpToolRef (it loads as printed)."""
    tool_name = name or catalog_name(listed.name)
    if not re.fullmatch(NAME_PATTERN, tool_name):
        raise ValueError(f"{tool_name!r} is not a catalog tool name (lowercase letters, digits, _; up to 48)")
    if secret is not None and not re.fullmatch(NAME_PATTERN, secret):
        raise ValueError(f"{secret!r} is not a secret resource name (lowercase letters, digits, _; up to 48)")
    lines = (listed.description or "").strip().splitlines()
    summary = lines[0][:200] if lines else listed.name
    schema = pprint.pformat(listed.input_schema, indent=4, width=100, sort_dicts=False)
    schema = schema.replace("\n", "\n" + " " * 8)
    from baton import __version__

    day = datetime.now(UTC).date().isoformat()
    return f"""\
# pinned by `baton mcp pin` (baton {__version__}) on {day}: review the server's description and schema below, then
# declare the side effect and your own description. Paste into your catalog's tools.
from baton.catalog import McpToolRef, SideEffect
from baton.mcp import mcp_tool

{tool_name} = mcp_tool(
    name={tool_name!r},
    description={summary!r},  # what your agents read: your words (the server's own are pinned below)
    side_effect=SideEffect.IRREVERSIBLE,  # yours to declare: READ, WRITE or IRREVERSIBLE (server hints are not trusted)
    ref=McpToolRef(
        server_url={server_url!r},
        tool={listed.name!r},
        description={listed.description!r},
        input_schema={schema},
        pinned_sha256={listed.sha256!r},
        secret={secret!r},  # the secret resource whose value is the server's bearer token, if it wants one
    ),
)
"""


def pin(
    server_url: str, tool: str, transport: HttpTransport, *, token: str | None = None, timeout_seconds: float = 10.0
) -> ListedTool:
    """List the server's tools through `transport` (only the URL's origin admitted) and return `tool` as listed.

    Raises McpPinError (one line: unreachable, refused, not listed) or EgressDenied (a URL no egress entry admits).
    """
    from baton.egress import EgressDenied, HttpError
    from baton.http import HttpClient
    from baton.mcp_client import list_tools

    if not re.fullmatch(MCP_URL_PATTERN, server_url):
        raise McpPinError(
            f"{server_url[:100]!r} is not an MCP server URL Baton pins: http(s), a lowercase host, a port and a path "
            "at most (no user, query or fragment)"
        )
    try:
        entry = egress_entry(server_url)
        client = HttpClient((entry,), transport, timeout_seconds)
        listed = list_tools(client, server_url, token, timeout_seconds)
    except (EgressDenied, HttpError, McpUnavailable, McpToolError) as error:
        raise McpPinError(f"cannot list the tools of {urlsplit(server_url).hostname}: {error}") from None
    except ValueError as error:
        raise McpPinError(f"{server_url[:100]!r} cannot be pinned: {error}") from None
    for found in listed:
        if found.name == tool:
            return found
    names = ", ".join(sorted(found.name for found in listed)[:20]) or "none"
    raise McpPinError(f"{urlsplit(server_url).hostname} lists no tool {tool!r} (it lists: {names})")


# ---------------------------------------------------------------- calling


def call_pinned_tool(args: BaseModel, ctx: ToolContext) -> dict[str, Any]:
    """The implementation of every MCP tool (MCP_IMPLEMENTATION): see the module docstring. Returns the result's
    content blocks and structured content, untrusted."""
    ref = ctx.tool.mcp
    if ref is None:
        raise ToolDenied(f"tool {ctx.tool.name!r} declares no MCP server")
    arguments = args.model_dump(mode="json", by_alias=True, exclude_unset=True)
    check_arguments(ref, arguments)
    token = ctx.secret(ref.secret) if ref.secret is not None else None
    from baton.mcp_client import call_tool

    host = urlsplit(ref.server_url).hostname or ""
    return call_tool(
        ctx.http(timeout_seconds=ref.timeout_seconds),
        ref.server_url,
        token,
        ref.timeout_seconds,
        ref.tool,
        arguments,
        check=lambda listed: check_pin(ref, listed, host),
    )


__all__: Sequence[str] = (
    "ListedTool",
    "McpArguments",
    "McpPinError",
    "McpToolChanged",
    "McpToolError",
    "McpUnavailable",
    "arguments_model",
    "call_pinned_tool",
    "canonical_json",
    "changes",
    "check_arguments",
    "check_pin",
    "declaration",
    "egress_entry",
    "mcp_tool",
    "pin",
    "pin_sha256",
)
