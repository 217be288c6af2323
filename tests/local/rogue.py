"""A catalog of misbehaving agents and a planner that picks one per run, to test every guard end to end."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

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

TOOL_RUNS: list[str] = []

Scenario = Literal["unknown_agent", "outside_workflow", "off_allowlist", "bad_arguments", "bad_output", "leak_secret"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RogueRequest(Strict):
    scenario: Scenario


class ThingArgs(Strict):
    thing_id: str = Field(pattern=r"^T-\d+$")


class NoInput(Strict):
    pass


class Verdict(Strict):
    verdict: Literal["fine"]


def read_thing(args: ThingArgs, ctx: ToolContext) -> dict[str, Any]:
    TOOL_RUNS.append(args.thing_id)
    return {"thing_id": args.thing_id}


def read_vault(args: ThingArgs, ctx: ToolContext) -> None:
    key = ctx.secret("vault_key")
    raise ValueError(f"vault rejected key {key} for {args.thing_id}")


def snooper(task: NoInput, tools: ToolBox) -> Verdict:
    with contextlib.suppress(Exception):  # swallowing the denial must not save the task
        tools.call("read_thing", thing_id="T-1")  # not on the snooper's allowlist
    return Verdict(verdict="fine")


def sloppy(task: NoInput, tools: ToolBox) -> Verdict:
    tools.call("read_thing", thing_id="../../etc/passwd")
    return Verdict(verdict="fine")


def liar(task: NoInput, tools: ToolBox) -> Any:
    tools.call("read_thing", thing_id="T-2")
    return {"verdict": "trust me", "also": "this"}


def leaky(task: NoInput, tools: ToolBox) -> Verdict:
    tools.call("read_vault", thing_id="T-3")
    return Verdict(verdict="fine")


def bystander(task: NoInput, tools: ToolBox) -> Verdict:
    tools.call("read_thing", thing_id="T-4")
    return Verdict(verdict="fine")


def _agent(name: str, tools: tuple[str, ...], output: type[BaseModel] = Verdict) -> AgentSpec:
    return AgentSpec(
        name=name,
        description=name,
        implementation=f"tests.local.rogue:{name}",
        input_model=NoInput,
        output_model=output,
        tools=tools,
    )


class RoguePlanner:
    CHOICE: ClassVar[dict[str, str]] = {
        "unknown_agent": "ghost",
        "outside_workflow": "bystander",
        "off_allowlist": "snooper",
        "bad_arguments": "sloppy",
        "bad_output": "liar",
        "leak_secret": "leaky",
    }

    def decide(self, run: RunView) -> Decision:
        history = run.outcomes()
        if history:
            last = history[-1]
            return Finish(result={"agent": last.agent, "status": last.status.value, "error_type": last.error_type})
        return Delegate(tasks=[Task(agent=self.CHOICE[str(run.value("scenario"))])])


THINGS = Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="things"))

CATALOG = build_catalog(
    resources=[
        ResourceSpec(kind=ResourceKind.TABLE, name="things", description="things", partition_key="thing_id"),
        ResourceSpec(kind=ResourceKind.SECRET, name="vault_key", description="a secret"),
    ],
    tools=[
        ToolSpec(
            name="read_thing",
            description="read",
            implementation="tests.local.rogue:read_thing",
            arguments=ThingArgs,
            side_effect=SideEffect.READ,
            grants=(THINGS,),
        ),
        ToolSpec(
            name="read_vault",
            description="use the vault key",
            implementation="tests.local.rogue:read_vault",
            arguments=ThingArgs,
            side_effect=SideEffect.READ,
            secrets=("vault_key",),
        ),
        ToolSpec(
            name="write_thing",
            description="unused by the snooper",
            implementation="tests.local.rogue:read_thing",
            arguments=ThingArgs,
            side_effect=SideEffect.WRITE,
            grants=(THINGS,),
            # the app's own table: trusted (else the snooper reads untrusted, sensitive data and writes: the Rule of
            # Two would refuse the catalog before the allowlist could be shown at work)
            output_trusted=True,
        ),
    ],
    agents=[
        _agent("snooper", ("write_thing",)),
        _agent("sloppy", ("read_thing",)),
        _agent("liar", ("read_thing",)),
        _agent("leaky", ("read_vault",)),
        _agent("bystander", ("read_thing",)),
    ],
    workflows=[
        WorkflowSpec(
            name="rogue",
            description="misbehaving agents",
            input_model=RogueRequest,
            planner="tests.local.rogue:RoguePlanner",
            agents=("snooper", "sloppy", "liar", "leaky"),
            trusted_input_keys=("scenario",),
        )
    ],
)
