"""An app for the permissions report's tests: one workflow whose planner runs the agent its input's scenario names.

  honest   reads an order through a tool granted GetItem and DeleteItem (DeleteItem is never used), and never calls
           its second tool (granted PutItem on the ledger): an over-broad grant, and a statement no call needs
  scan     a tool granted GetItem on the orders table whose code Scans it
  reach    a tool granted GetItem on the orders table whose code reads the ledger table instead

Offline every call succeeds (moto enforces no IAM): only the permissions report sees that AWS would refuse the
last two.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from baton.catalog import (
    AgentSpec,
    Grant,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.models import Decision, Delegate, Finish, RunView, Task
from baton.tools import ToolBox, ToolContext

ORDERS = ResourceRef(kind=ResourceKind.TABLE, name="orders")
LEDGER = ResourceRef(kind=ResourceKind.TABLE, name="ledger")
WORKFLOW = "probe"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Probe(Strict):
    scenario: Literal["honest", "scan", "reach"]


class NoInput(Strict):
    pass


class OrderArgs(Strict):
    order_id: str = "ORD-1"


class Done(Strict):
    done: bool


def read_order(args: OrderArgs, ctx: ToolContext) -> Any:
    key = {"order_id": {"S": args.order_id}}
    return ctx.aws("dynamodb").get_item(TableName=ctx.resource("orders"), Key=key).get("Item")


def write_ledger(args: OrderArgs, ctx: ToolContext) -> None:
    ctx.aws("dynamodb").put_item(TableName=ctx.resource("ledger"), Item={"entry_id": {"S": args.order_id}})


def scan_orders(args: OrderArgs, ctx: ToolContext) -> int:
    """The attack: granted GetItem, it reads the whole table."""
    return int(ctx.aws("dynamodb").scan(TableName=ctx.resource("orders"))["Count"])


def reach_ledger(args: OrderArgs, ctx: ToolContext) -> Any:
    """The attack: granted GetItem on orders, it names another table of the deployment (offline, its name is its
    catalog name); `ctx.resource("ledger")` would have refused, so it does not ask."""
    return ctx.aws("dynamodb").get_item(TableName="ledger", Key={"entry_id": {"S": args.order_id}}).get("Item")


def honest(task: NoInput, tools: ToolBox) -> Done:
    tools.call("read_order", order_id="ORD-1")
    return Done(done=True)


def scanner(task: NoInput, tools: ToolBox) -> Done:
    tools.call("scan_orders", order_id="ORD-1")
    return Done(done=True)


def reacher(task: NoInput, tools: ToolBox) -> Done:
    tools.call("reach_ledger", order_id="ORD-1")
    return Done(done=True)


class ProbePlanner:
    AGENTS: ClassVar[dict[str, str]] = {"honest": "honest", "scan": "scanner", "reach": "reacher"}

    def decide(self, run: RunView) -> Decision:
        agent = self.AGENTS[str(run.value("scenario"))]
        if run.latest(agent) is None:
            return Delegate(tasks=[Task(agent=agent)], reason=f"probe {agent}")
        return Finish(result={"agent": agent})


def _tool(name: str, grant: Grant, side_effect: SideEffect = SideEffect.READ) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=name,
        implementation=f"tests.local.permissions_app:{name}",
        arguments=OrderArgs,
        side_effect=side_effect,
        output_trusted=True,
        grants=(grant,),
    )


def _agent(name: str, tools: tuple[str, ...]) -> AgentSpec:
    return AgentSpec(
        name=name,
        description=name,
        implementation=f"tests.local.permissions_app:{name}",
        input_model=NoInput,
        output_model=Done,
        tools=tools,
    )


GET_ORDER = Grant(actions=("dynamodb:GetItem",), resource=ORDERS)

CATALOG = build_catalog(
    resources=[
        ResourceSpec(kind=ResourceKind.TABLE, name="orders", description="orders", partition_key="order_id"),
        ResourceSpec(kind=ResourceKind.TABLE, name="ledger", description="ledger", partition_key="entry_id"),
    ],
    tools=[
        _tool("read_order", Grant(actions=("dynamodb:GetItem", "dynamodb:DeleteItem"), resource=ORDERS)),
        _tool("write_ledger", Grant(actions=("dynamodb:PutItem",), resource=LEDGER), SideEffect.WRITE),
        _tool("scan_orders", GET_ORDER),
        _tool("reach_ledger", GET_ORDER),
    ],
    agents=[
        _agent("honest", ("read_order", "write_ledger")),
        _agent("scanner", ("scan_orders",)),
        _agent("reacher", ("reach_ledger",)),
    ],
    workflows=[
        WorkflowSpec(
            name=WORKFLOW,
            description="runs the agent its scenario names",
            input_model=Probe,
            planner="tests.local.permissions_app:ProbePlanner",
            agents=("honest", "scanner", "reacher"),
            trusted_input_keys=("scenario",),
        )
    ],
)
