"""A real MCP server (the `mcp` package's, streamable HTTP) on 127.0.0.1, run in a thread, for the MCP tool tests.

Its tools, its answer to a call and its bearer token are attributes a test changes while it runs (a rug pull is one
assignment). It records every HTTP request it receives (method, path, Authorization header) and every tool call.
With `redirect_to` set, it answers every request with a 307 to that URL instead.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    authorization: str


class McpTestServer:
    """An MCP server answering for `host` (its Host check admits that name only), listening on 127.0.0.1."""

    def __init__(self, host: str, tools: list[types.Tool], *, token: str | None = None, json_response: bool = False):
        self.host = host
        self.tools = list(tools)
        self.token = token
        self.answer = "order ORD-1: shipped, 42.00 EUR"
        self.answer_is_error = False
        self.redirect_to: str | None = None
        self.received: list[Received] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        lowlevel = Server("orders", on_list_tools=self._list_tools, on_call_tool=self._call_tool)
        app = lowlevel.streamable_http_app(
            json_response=json_response,
            stateless_http=json_response,
            transport_security=TransportSecuritySettings(allowed_hosts=[host, f"{host}:*"], allowed_origins=[]),
        )
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(_Gate(app, self), log_level="error", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the MCP test server did not start")
            time.sleep(0.01)

    @property
    def tool_calls(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.calls)

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(self.tools))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        self.calls.append((params.name, dict(params.arguments or {})))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=self.answer)], is_error=self.answer_is_error
        )

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


class _Gate:
    """Records each request; answers 401 without the bearer token, or 307 when the server redirects."""

    def __init__(self, app: ASGIApp, server: McpTestServer) -> None:
        self._app = app
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
            authorization = headers.get("authorization", "")
            self._server.received.append(Received(scope["method"], scope["path"], authorization))
            response: Response | None = None
            if self._server.redirect_to is not None:
                response = Response(status_code=307, headers={"Location": self._server.redirect_to})
            elif self._server.token is not None and authorization != f"Bearer {self._server.token}":
                response = JSONResponse({"error": "unauthorized"}, status_code=401)
            if response is not None:
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)
