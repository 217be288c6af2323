"""MCP tools, pinned, without a server: the pin's hash, what a catalog refuses at load, the arguments' checks, and
that declaring an MCP tool loads no MCP SDK."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from baton.catalog import MCP_IMPLEMENTATION, Catalog, McpToolRef, SideEffect, ToolSpec
from baton.mcp import (
    ListedTool,
    arguments_model,
    catalog_name,
    changes,
    check_arguments,
    declaration,
    egress_entry,
    mcp_tool,
    pin_sha256,
)
from baton.tools import ToolArgumentsInvalid

ROOT = Path(__file__).resolve().parents[2]
URL = "https://mcp.example.com/mcp"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{1,6}$", "description": "the order's id"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        "status": {"enum": ["open", "shipped"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "dry-run": {"type": "boolean"},
    },
    "required": ["order_id"],
}


def ref(
    description: str | None = "Look up an order.", schema: dict[str, Any] | None = None, **fields: Any
) -> McpToolRef:
    schema = schema or SCHEMA
    return McpToolRef(
        server_url=URL,
        tool="lookup_order",
        description=description,
        input_schema=schema,
        pinned_sha256=pin_sha256("lookup_order", description, schema),
        **fields,
    )


class OwnArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str


def test_the_pin_is_the_sha256_of_the_canonical_json_of_name_description_and_schema() -> None:
    """Given a tool's name, description and input schema
    When it is pinned
    Then the pin is SHA-256 of their JSON with sorted keys, no whitespace, UTF-8 (as baton.mcp documents), so the
    order the server wrote its keys in does not matter, and any other change does."""
    schema = {"type": "object", "properties": {"q": {"type": "string", "description": "qué"}}}
    canonical = '{"description":"Search.","inputSchema":{"properties":{"q":{"description":"qué","type":"string"}},'
    canonical += '"type":"object"},"name":"search"}'
    assert pin_sha256("search", "Search.", schema) == hashlib.sha256(canonical.encode()).hexdigest()
    reordered = json.loads('{"properties": {"q": {"description": "qué", "type": "string"}}, "type": "object"}')
    assert pin_sha256("search", "Search.", reordered) == pin_sha256("search", "Search.", schema)
    assert pin_sha256("search", "Search. ", schema) != pin_sha256("search", "Search.", schema)
    assert pin_sha256("search", None, schema) != pin_sha256("search", "", schema)


@pytest.mark.attack("ASI04")
def test_a_declaration_whose_description_or_schema_does_not_match_its_pin_is_refused_at_load() -> None:
    """Given a pinned declaration whose description or schema was edited by hand after pinning
    When it is declared
    Then it is refused: the pin covers what the catalog says the tool is."""
    pinned = ref()
    edited = pinned.model_dump() | {"description": "Look up an order. Also refund it."}
    with pytest.raises(ValidationError, match="do not hash to pinned_sha256"):
        McpToolRef.model_validate(edited)
    widened = pinned.model_dump() | {"input_schema": {**SCHEMA, "additionalProperties": True}}
    with pytest.raises(ValidationError, match="do not hash to pinned_sha256"):
        McpToolRef.model_validate(widened)


@pytest.mark.attack("ASI06")
def test_an_mcp_tool_may_not_claim_trusted_output() -> None:
    """Given an MCP tool declared with output_trusted=True
    When it is declared
    Then it is refused: a remote server's output is never trusted."""
    spec = mcp_tool(name="lookup_order", description="look up", side_effect=SideEffect.READ, ref=ref())
    with pytest.raises(ValidationError, match="may not claim trusted output"):
        ToolSpec.model_validate(spec.model_dump() | {"output_trusted": True})


@pytest.mark.attack("ASI02")
def test_an_mcp_tool_whose_server_is_outside_its_egress_is_refused_at_load() -> None:
    """Given an MCP tool whose egress names another host, another port or plain HTTP
    When it is declared
    Then it is refused: its server's origin must be on its egress allowlist."""
    for egress in (("orders.example.com",), ("mcp.example.com:8443",), ("http://mcp.example.com",)):
        with pytest.raises(ValidationError, match="origin must be in its egress"):
            mcp_tool(name="lookup_order", description="look up", side_effect=SideEffect.READ, ref=ref(), egress=egress)


def test_an_mcp_tool_runs_the_pinned_implementation_with_its_token_secret_declared() -> None:
    """Given an MCP tool with another implementation, a token secret it does not declare, or the MCP implementation
    without an MCP server
    When each is declared
    Then each is refused naming the problem."""
    spec = mcp_tool(name="lookup_order", description="look up", side_effect=SideEffect.READ, ref=ref(secret="token"))
    assert spec.secrets == ("token",)
    with pytest.raises(ValidationError, match="which checks the pin"):
        ToolSpec.model_validate(spec.model_dump() | {"implementation": "myapp.tools:lookup"})
    with pytest.raises(ValidationError, match="must be among its secrets"):
        ToolSpec.model_validate(spec.model_dump() | {"secrets": ()})
    with pytest.raises(ValidationError, match="declares no mcp="):
        ToolSpec.model_validate(spec.model_dump() | {"mcp": None})
    assert spec.implementation == MCP_IMPLEMENTATION


def test_the_egress_entry_of_a_server_url_admits_its_origin_only() -> None:
    assert egress_entry("https://mcp.example.com/mcp") == "mcp.example.com"
    assert egress_entry("https://mcp.example.com:8443/mcp") == "mcp.example.com:8443"
    assert egress_entry("http://mcp.example.com/mcp") == "http://mcp.example.com"
    assert egress_entry("http://mcp.example.com:8080/") == "http://mcp.example.com:8080"


def test_the_derived_arguments_model_is_strict_forbids_extras_and_keeps_json_names() -> None:
    """Given the model derived from a pinned input schema
    When arguments are validated
    Then JSON names (even "dry-run") are kept, required ones are required, types are not coerced, extra fields are
    refused, and the model is the same object for the same pin (two catalogs declaring it are equal)."""
    model = arguments_model(ref())
    assert model is arguments_model(ref())
    valid = model.model_validate({"order_id": "ORD-1", "dry-run": True, "tags": ["a"], "status": "open"})
    assert valid.model_dump(mode="json", exclude_unset=True) == {
        "order_id": "ORD-1",
        "dry-run": True,
        "tags": ["a"],
        "status": "open",
    }
    for invalid in (
        {},  # order_id is required
        {"order_id": "ORD-1", "limit": "5"},  # no coercion
        {"order_id": "ORD-1", "status": "refunded"},  # not in the enum
        {"order_id": "ORD-1", "note": "hi"},  # not in the schema
    ):
        with pytest.raises(ValidationError):
            model.model_validate(invalid)
    assert model.model_json_schema()["properties"]["order_id"]["description"] == "the order's id"
    catalog = Catalog.merge(_catalog(), _catalog())
    assert "lookup_order" in catalog.tools


def _catalog() -> Catalog:
    from baton.catalog import build_catalog

    spec = mcp_tool(name="lookup_order", description="look up", side_effect=SideEffect.READ, ref=ref())
    return build_catalog(resources=[], tools=[spec], agents=[], workflows=[])


@pytest.mark.attack("ASI02")
def test_arguments_are_checked_against_the_whole_pinned_schema() -> None:
    """Given arguments the derived model admits but the pinned schema refuses (a pattern, a maximum)
    When they are checked
    Then ToolArgumentsInvalid names the argument; a declared arguments model is checked against the schema too."""
    pinned = ref()
    check_arguments(pinned, {"order_id": "ORD-1", "limit": 5})
    with pytest.raises(ToolArgumentsInvalid, match="order_id fails the pinned input schema"):
        check_arguments(pinned, {"order_id": "anything; DROP TABLE"})
    with pytest.raises(ToolArgumentsInvalid, match="limit fails the pinned input schema"):
        check_arguments(pinned, {"order_id": "ORD-1", "limit": 500})
    spec = mcp_tool(
        name="lookup_order", description="look up", side_effect=SideEffect.READ, ref=pinned, arguments=OwnArgs
    )
    assert spec.arguments is OwnArgs


@pytest.mark.attack("ASI02")
def test_a_schema_with_a_remote_reference_is_refused_not_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a pinned schema whose property refers to a remote schema (jsonschema's default would fetch it with
    urllib, outside the egress transport)
    When arguments are checked
    Then nothing is fetched: the schema cannot be applied, and the arguments are refused."""
    fetched: list[str] = []
    monkeypatch.setattr("urllib.request.urlopen", lambda url, *args, **kwargs: fetched.append(str(url)))
    schema = {"type": "object", "properties": {"q": {"$ref": "https://schemas.example.com/q.json"}}}
    with pytest.raises(ToolArgumentsInvalid, match="could not be applied"):
        check_arguments(ref(schema=schema), {"q": "x"})
    assert fetched == []


def test_changes_name_what_changed() -> None:
    pinned = ref()
    same = ListedTool("lookup_order", "Look up an order.", dict(SCHEMA))
    assert changes(pinned, same) == []
    assert changes(pinned, None) == ["missing"]
    assert changes(pinned, ListedTool("lookup_order", "Refund orders.", dict(SCHEMA))) == ["description"]
    widened = ListedTool("lookup_order", "Look up an order.", {**SCHEMA, "additionalProperties": True})
    assert changes(pinned, widened) == ["input schema"]


def test_a_printed_declaration_is_python_that_declares_the_pinned_tool() -> None:
    """Given a tool as a server lists it (non-ASCII, quotes, booleans and nulls in its schema)
    When its declaration is printed and run
    Then it declares the same pin, named for the catalog, side effect IRREVERSIBLE until the user declares it."""
    schema = {"type": "object", "properties": {"q": {"type": ["string", "null"], "description": 'the "query", señor'}}}
    listed = ListedTool("Search-Docs.v2", "Search the docs.\nSecond line.", schema)
    namespace: dict[str, Any] = {}
    exec(declaration(URL, listed, secret="docs_token"), namespace)  # noqa: S102 - what a user pastes
    spec = namespace["search_docs_v2"]
    assert (spec.name, spec.description, spec.side_effect) == ("search_docs_v2", "Search the docs.", "irreversible")
    assert spec.mcp.pinned_sha256 == listed.sha256
    assert catalog_name("123") == "mcp_123"


def test_declaring_an_mcp_tool_imports_no_mcp_sdk() -> None:
    """Given a catalog declaring a pinned MCP tool
    When a fresh interpreter loads it (as every function of its app does)
    Then neither the mcp SDK nor its HTTP client nor jsonschema is imported: only a call loads them."""
    code = (
        "import sys; import tests.local.mcp_app; "
        "loaded = sorted(m for m in ('mcp', 'httpx2', 'anyio', 'jsonschema', 'baton.mcp_client') if m in sys.modules); "
        "print(loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
    assert done.stdout.strip() == "[]"
