"""An app with one pinned MCP tool, for tests/local/test_mcp.py: its catalog, agent, planner and the tool as pinned.

The `support` agent looks an order up on the orders MCP server (`lookup_order`, pinned) and, when asked, refunds it
(`refund_order`, irreversible, recorded in REFUNDS). The server is a real MCP server the tests start on 127.0.0.1
(tests/local/mcp_server.py), reached through the offline engine's loopback exception.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton.catalog import (
    AgentSpec,
    McpToolRef,
    ResourceKind,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.mcp import mcp_tool, pin_sha256
from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskStatus
from baton.tools import ToolBox, ToolContext

MCP_HOST = "mcp.example.com"
SERVER_URL = f"http://{MCP_HOST}/mcp"
TOOL = "lookup_order"
DESCRIPTION = "Look up an order by its id: status, amount and customer note."
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{1,6}$", "description": "the order's id"}},
    "required": ["order_id"],
    "additionalProperties": False,
}
PINNED = McpToolRef(
    server_url=SERVER_URL,
    tool=TOOL,
    description=DESCRIPTION,
    input_schema=INPUT_SCHEMA,
    pinned_sha256=pin_sha256(TOOL, DESCRIPTION, INPUT_SCHEMA),
    secret="orders_token",
)
# the refunds made, in this process (the offline engine runs every handler in it)
REFUNDS: list[str] = []


class Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderRequest(Boundary):
    # constrained (so it may be trusted), yet wider than the server's pinned pattern
    order_id: str = Field(pattern=r"^[A-Z]{3}-[0-9]{1,6}$")
    refund: bool = False


class SupportInput(Boundary):
    order_id: str
    refund: bool = False


class SupportAnswer(Boundary):
    summary: str = Field(max_length=2000)
    refunded: bool


class RefundArgs(Boundary):
    order_id: str = Field(pattern=r"^[A-Z]{3}-[0-9]{1,6}$")


def support(task: SupportInput, tools: ToolBox) -> SupportAnswer:
    found = tools.call("lookup_order", order_id=task.order_id)
    summary = " ".join(block.get("text", "") for block in found["content"] if block.get("type") == "text")
    if task.refund:
        tools.call("refund_order", order_id=task.order_id)
    return SupportAnswer(summary=summary[:2000], refunded=task.refund)


def refund_order(args: RefundArgs, ctx: ToolContext) -> str:
    REFUNDS.append(args.order_id)
    return f"refunded {args.order_id}"


class SupportPlanner:
    def decide(self, run: RunView) -> Decision:
        outcome = run.latest("support")
        if outcome is None:
            return Delegate(tasks=[Task(agent="support")], reason="look the order up")
        if outcome.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"support failed: {outcome.error_type}")
        return Finish(result={"answer": run.value("support")})


TOOLS = [
    mcp_tool(
        name="lookup_order",
        description="look an order up on the orders MCP server",
        side_effect=SideEffect.READ,
        ref=PINNED,
    ),
    ToolSpec(
        name="refund_order",
        description="refund an order (irreversible)",
        implementation="tests.local.mcp_app:refund_order",
        arguments=RefundArgs,
        side_effect=SideEffect.IRREVERSIBLE,
    ),
]

CATALOG = build_catalog(
    resources=[ResourceSpec(kind=ResourceKind.SECRET, name="orders_token", description="the orders server's token")],
    tools=TOOLS,
    agents=[
        AgentSpec(
            name="support",
            description="looks orders up on the orders MCP server; refunds when asked",
            implementation="tests.local.mcp_app:support",
            input_model=SupportInput,
            output_model=SupportAnswer,
            tools=("lookup_order", "refund_order"),
            context_keys=("order_id", "refund"),
        )
    ],
    workflows=[
        WorkflowSpec(
            name="mcp-orders",
            description="look an order up through a pinned MCP tool",
            input_model=OrderRequest,
            planner="tests.local.mcp_app:SupportPlanner",
            agents=("support",),
            trusted_input_keys=("order_id", "refund"),
        )
    ],
)
