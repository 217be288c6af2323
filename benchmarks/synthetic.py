"""A synthetic looping workflow for the growth and scale benchmarks (never deployed; offline only).

`loop` runs `steps` stages of `width` tasks each, on one agent (`stepper`) with one pure-code tool
(`tick`, no grants), then finishes. Each task's output is about `payload_bytes` long, so the bytes a
run writes per step can be read off directly. Run it with `LocalEngine("benchmarks.synthetic:CATALOG")`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from baton.catalog import AgentSpec, Budgets, SideEffect, ToolSpec, WorkflowSpec, build_catalog
from baton.models import Decision, Delegate, Finish, RunView, Task
from baton.tools import ToolBox, ToolContext

MAX_STEPS = 1000
MAX_WIDTH = 1000


class _Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoopInput(_Boundary):
    steps: int = Field(ge=1, le=MAX_STEPS)
    width: int = Field(default=1, ge=1, le=MAX_WIDTH)
    payload_bytes: int = Field(default=100, ge=0, le=10_000)


class StepInput(_Boundary):
    step: int
    index: int
    payload_bytes: int


class StepDone(_Boundary):
    step: int
    index: int
    note: str


class TickArgs(_Boundary):
    step: int


def tick(args: TickArgs, ctx: ToolContext) -> int:
    return args.step + 1


def stepper(task: StepInput, tools: ToolBox) -> StepDone:
    ticked = tools.call("tick", step=task.step)
    return StepDone(step=ticked - 1, index=task.index, note="x" * task.payload_bytes)


class LoopPlanner:
    def decide(self, run: RunView) -> Decision:
        loop = LoopInput(
            steps=int(str(run.value("steps"))),
            width=int(str(run.value("width"))),
            payload_bytes=int(str(run.value("payload_bytes"))),
        )
        if run.stage >= loop.steps:
            return Finish(result={"stages": run.stage, "tasks": len(run.outcomes())})
        params = {"step": run.stage + 1, "payload_bytes": loop.payload_bytes}
        # one output key per task of a stage; stages reuse them, so the run's context does not grow
        return Delegate(
            tasks=[Task(agent="stepper", key=f"t{i}", params={**params, "index": i}) for i in range(loop.width)]
        )


CATALOG = build_catalog(
    resources=[],
    tools=[
        ToolSpec(
            name="tick",
            description="pure code: count one step",
            implementation="benchmarks.synthetic:tick",
            arguments=TickArgs,
            side_effect=SideEffect.READ,
            output_trusted=True,  # pure code on its own arguments
        )
    ],
    agents=[
        AgentSpec(
            name="stepper",
            description="does one step of the loop",
            implementation="benchmarks.synthetic:stepper",
            input_model=StepInput,
            output_model=StepDone,
            tools=("tick",),
        )
    ],
    workflows=[
        WorkflowSpec(
            name="loop",
            description="a synthetic loop of `steps` stages of `width` tasks",
            input_model=LoopInput,
            planner="benchmarks.synthetic:LoopPlanner",
            agents=("stepper",),
            trusted_input_keys=("steps", "width", "payload_bytes"),
            budgets=Budgets(max_stages=MAX_STEPS, max_tasks_per_stage=MAX_WIDTH, max_concurrency=50),
        )
    ],
)
