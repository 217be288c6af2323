"""A catalog with short-lived credentials, for the synthesized-template tests (tests/infra/test_credentials_infra.py):
a secret rotated every 7 days by a declared function, a tool on OAuth client credentials, a tool with an STS session.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from baton.catalog import (
    AgentSpec,
    OAuthClientCredentials,
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

ROTATOR = "arn:aws:lambda:us-east-1:123456789012:function:rotate-partner-client"


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


def call_partner(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ctx.access_token()}"}
    answer: dict[str, Any] = (
        ctx.http().request("GET", "https://api.partner.example.com/v1/ping", headers=headers).json()
    )
    return answer


def write_report(args: NoArgs, ctx: ToolContext) -> None:
    ctx.aws_session("dynamodb").put_item(TableName=ctx.resource("reports"), Item={"pk": {"S": f"{ctx.run_id}#report"}})


def reporter(task: NoArgs, tools: ToolBox) -> NoArgs:
    tools.call("call_partner")
    tools.call("write_report")
    return NoArgs()


class Planner:
    def __init__(self, *_: Any) -> None:
        pass

    def decide(self, run: RunView) -> Decision:
        if not run.outcomes():
            return Delegate(tasks=[Task(agent="reporter", key="reporter")], reason="report")
        return Finish(result={})


CATALOG = build_catalog(
    resources=[
        ResourceSpec(
            kind=ResourceKind.SECRET,
            name="partner_client",
            description="OAuth client credentials of the partner API",
            rotation_function_arn=ROTATOR,
            rotation_days=7,
        ),
        ResourceSpec(kind=ResourceKind.TABLE, name="reports", description="reports", partition_key="pk", public=True),
    ],
    tools=[
        ToolSpec(
            name="call_partner",
            description="calls the partner API with an access token",
            implementation="tests.infra.credentials_app:call_partner",
            arguments=NoArgs,
            side_effect=SideEffect.READ,
            secrets=("partner_client",),
            egress=("api.partner.example.com", "auth.partner.example.com"),
            oauth=OAuthClientCredentials(
                token_url="https://auth.partner.example.com/oauth2/token",
                secret="partner_client",
                scope="reports:read",
            ),
        ),
        ToolSpec(
            name="write_report",
            description="writes the run's report item through its own session",
            implementation="tests.infra.credentials_app:write_report",
            arguments=NoArgs,
            side_effect=SideEffect.WRITE,
            session=SessionGrant(
                actions=("dynamodb:PutItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="reports")
            ),
        ),
    ],
    agents=[
        AgentSpec(
            name="reporter",
            description="reports",
            implementation="tests.infra.credentials_app:reporter",
            input_model=NoArgs,
            output_model=NoArgs,
            tools=("call_partner", "write_report"),
        )
    ],
    workflows=[
        WorkflowSpec(
            name="reports",
            description="a report",
            input_model=NoArgs,
            planner="tests.infra.credentials_app:Planner",
            agents=("reporter",),
        )
    ],
)
