"""A catalog whose one tool writes the run's report item through its own STS session (scoped to the run), for
tests/local/test_session_runs.py: the offline wiring of a session end to end (provisioning, the function's
environment, the broker, moto's STS)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from baton.catalog import (
    AgentSpec,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SessionGrant,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.models import Decision, Delegate, Finish, RunView, Task
from baton.tools import ToolBox, ToolContext


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Written(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str


def write_report(args: NoArgs, ctx: ToolContext) -> str:
    key = f"{ctx.run_id}#report"
    ctx.aws_session("dynamodb").put_item(TableName=ctx.resource("reports"), Item={"pk": {"S": key}})
    return key


def reporter(task: NoArgs, tools: ToolBox) -> Written:
    return Written(key=tools.call("write_report"))


class Planner:
    def __init__(self, *_: Any) -> None:
        pass

    def decide(self, run: RunView) -> Decision:
        if not run.outcomes():
            return Delegate(tasks=[Task(agent="reporter", key="reporter")], reason="write the report")
        return Finish(result={"done": True})


CATALOG = build_catalog(
    resources=[
        ResourceSpec(kind=ResourceKind.TABLE, name="reports", description="reports", partition_key="pk", public=True)
    ],
    tools=[
        ToolSpec(
            name="write_report",
            description="writes the run's report item through its own session",
            implementation="tests.local.sessions_app:write_report",
            arguments=NoArgs,
            side_effect=SideEffect.WRITE,
            output_trusted=True,
            session=SessionGrant(
                actions=("dynamodb:PutItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="reports")
            ),
        )
    ],
    agents=[
        AgentSpec(
            name="reporter",
            description="writes the report",
            implementation="tests.local.sessions_app:reporter",
            input_model=NoArgs,
            output_model=Written,
            tools=("write_report",),
        )
    ],
    workflows=[
        WorkflowSpec(
            name="sessions",
            description="one report per run",
            input_model=NoArgs,
            planner="tests.local.sessions_app:Planner",
            agents=("reporter",),
        )
    ],
)
