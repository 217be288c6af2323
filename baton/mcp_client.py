"""The MCP SDK's side of MCP tools (the `baton[mcp]` extra): its streamable HTTP client over Baton's egress transport.

The `mcp` SDK speaks HTTP through an httpx2 client; `BatonTransport` is that client's transport (an
httpx2.AsyncBaseTransport), and it sends each request through the tool's HttpClient (baton.http): the egress
allowlist admits the URL first, Baton's redirect rules apply (a hop is followed only when the tool sets
follow_redirects, each hop admitted again, credentials dropped when it leaves the origin; otherwise the 3xx goes
back to the SDK, which follows only same-origin redirects, each a new request admitted again), and the request goes
out through the one egress transport: PinnedTransport on AWS (every resolved address globally routable, dialled as
checked), the offline engine's transport offline. The SDK never opens a socket of its own.

Not sent: a GET. The SDK opens a GET stream for messages the server starts (sampling, elicitation, notifications)
and resumes broken streams with one; Baton takes none, so the transport answers 405 Method Not Allowed itself (what
a server without that stream answers), without a connection. Responses are read whole (PinnedTransport's size
limit and timeout bound each), which suits streamable HTTP's answer to a POST: JSON, or an event stream ending with
the response.

A refusal (EgressDenied) or transport failure (HttpError) inside the SDK's task groups is re-raised as it is, once
the session has unwound, so the ToolBox records a refusal as a denial.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from baton import __version__
from baton.egress import EgressDenied, HttpError
from baton.http import HttpClient
from baton.mcp import ListedTool, McpToolError, McpUnavailable
from baton.tools import ToolDenied

T = TypeVar("T")
# tools/list pages read before giving up (a server paging forever)
MAX_TOOL_PAGES = 20
MAX_ERROR_CHARS = 300
# request headers the HTTP layer writes itself (Host from the URL; length and connection per request); never copied
_REQUEST_HOP_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "accept-encoding"}
)
_RESPONSE_HOP_HEADERS = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding"})
_CLIENT_INFO = types.Implementation(name="baton", version=__version__)


class BatonTransport(httpx2.AsyncBaseTransport):
    """httpx2's transport over a tool's HttpClient: the allowlist, redirect rules and address checks of Baton's one
    egress transport apply to every request the MCP SDK sends (module docstring)."""

    def __init__(self, client: HttpClient) -> None:
        self._client = client
        # the first refusal or transport failure, re-raised once the SDK's task groups have unwound
        self.failure: EgressDenied | HttpError | None = None
        self.sent: list[str] = []  # "METHOD URL" of each request sent (a GET is never sent)
        self.refused_status: int | None = None  # the first HTTP error status the server answered

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            return httpx2.Response(405, request=request)
        url = str(request.url)
        host = request.headers.get("host")
        if host is not None and host.lower() != request.url.netloc.decode("ascii").lower():
            raise self._failed(EgressDenied("the Host header comes from the URL, never from the caller"))
        body = await request.aread()
        headers = {
            _canonical(name): value
            for name, value in request.headers.items()
            if name.lower() not in _REQUEST_HOP_HEADERS
        }
        send = partial(self._client.request, request.method, url, headers=headers, content=body or None)
        try:
            answer = await anyio.to_thread.run_sync(send, abandon_on_cancel=True)
        except (EgressDenied, HttpError) as error:
            raise self._failed(error) from None
        self.sent.append(f"{request.method} {url}")
        if answer.status >= 400 and self.refused_status is None:
            self.refused_status = answer.status
        kept = [(name, value) for name, value in answer.headers.items() if name.lower() not in _RESPONSE_HOP_HEADERS]
        return httpx2.Response(answer.status, headers=kept, content=answer.body, request=request)

    def _failed(self, error: EgressDenied | HttpError) -> EgressDenied | HttpError:
        if self.failure is None:
            self.failure = error
        return error


def _canonical(name: str) -> str:
    """Content-Type for content-type: HttpClient's own defaults (Accept) are replaced, not doubled."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def list_tools(client: HttpClient, url: str, token: str | None, timeout_seconds: float) -> list[ListedTool]:
    """Every tool the server lists (every page)."""

    async def work(session: ClientSession) -> list[ListedTool]:
        return [_listed(tool) for tool in await _all_tools(session)]

    return _session(client, url, token, timeout_seconds, work)


def call_tool(
    client: HttpClient,
    url: str,
    token: str | None,
    timeout_seconds: float,
    tool: str,
    arguments: dict[str, Any],
    *,
    check: Callable[[ListedTool | None], None],
) -> dict[str, Any]:
    """List the server's tools, hand `check` the one named `tool` (None if missing; it raises to refuse), then call
    it. The result's content blocks and structured content, as JSON; a result flagged isError is McpToolError."""

    async def work(session: ClientSession) -> dict[str, Any]:
        listed = next((_listed(found) for found in await _all_tools(session) if found.name == tool), None)
        check(listed)
        result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout_seconds)
        content = [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]
        if result.is_error:
            text = " ".join(str(block.get("text", "")) for block in content if block.get("type") == "text")
            raise McpToolError(f"MCP tool {tool!r} reported an error: {text[:MAX_ERROR_CHARS]}")
        return {"content": content, "structured_content": result.structured_content}

    return _session(client, url, token, timeout_seconds, work)


async def _all_tools(session: ClientSession) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor is not None else None
        page = await session.list_tools(params=params)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools
    raise McpToolError(f"the server lists more than {MAX_TOOL_PAGES} pages of tools")


def _listed(tool: types.Tool) -> ListedTool:
    return ListedTool(name=tool.name, description=tool.description, input_schema=dict(tool.input_schema))


def _session(
    client: HttpClient,
    url: str,
    token: str | None,
    timeout_seconds: float,
    work: Callable[[ClientSession], Awaitable[T]],
) -> T:
    """Run `work` in an initialized session with the server, its HTTP through `client`; map what went wrong."""
    host = urlsplit(url).hostname or url
    transport = BatonTransport(client)

    async def main() -> T:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx2.AsyncClient(
            transport=transport, headers=headers, trust_env=False, timeout=timeout_seconds, follow_redirects=False
        )
        # each request is bounded by the transport's timeout; the whole session (about four requests) by this
        with anyio.fail_after(timeout_seconds * 6):
            async with (
                http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write, read_timeout_seconds=timeout_seconds, client_info=_CLIENT_INFO) as session,
            ):
                await session.initialize()
                return await work(session)

    try:
        return _run(main)
    except BaseException as error:
        if transport.failure is not None:
            raise transport.failure from None
        leaf = _leaf(error)
        if isinstance(leaf, ToolDenied | McpToolError | EgressDenied | HttpError):
            raise leaf from None
        if isinstance(leaf, MCPError):
            message = leaf.error.message[:MAX_ERROR_CHARS]
            status = "" if transport.refused_status is None else f"HTTP {transport.refused_status}, "
            raise McpToolError(f"MCP server {host} answered with an error ({status}{leaf.code}): {message}") from None
        if isinstance(leaf, TimeoutError):
            raise McpUnavailable(f"MCP server {host} did not answer in time") from None
        if isinstance(leaf, Exception):
            raise McpUnavailable(f"MCP session with {host} failed: {type(leaf).__name__}") from None
        raise


def _leaf(error: BaseException) -> BaseException:
    """The first error inside nested exception groups (the SDK's task groups wrap what their tasks raised)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to completion from synchronous tool code (in a thread of its own if this one already
    runs an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="baton-mcp") as pool:
        return pool.submit(anyio.run, main).result()
