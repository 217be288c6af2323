"""The approval test app: the test app's reader, and a cashier whose every payout a policy holds for a person.

Workflows (all Standard; an Express one may not declare approvals):
  approve          reader, then `split` concurrent cashier tasks (each payout its own approval; with more than
                   one, a reader task no policy holds in the same stage), then finish with what was paid and what
                   was refused
  approve-planned  the planner itself awaits approval of the exact payout (AwaitApproval with the tool and its
                   arguments) before it delegates the cashier, whose call the approval's grant then lets run
  approve-none     as `approve`, but the workflow declares no approvers: a held payout fails its task
"""

from __future__ import annotations

from pydantic import Field

from baton.catalog import (
    AgentSpec,
    ApprovalSettings,
    Catalog,
    PolicyFile,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.models import AwaitApproval, Decision, Delegate, Fail, Finish, RunView, Task, TaskStatus
from baton.tools import AgentTaskFailed, ToolBox
from tests.testapp import catalog as testapp
from tests.testapp.models import ITEM_ID, Boundary, ItemFound

ACCOUNT = "123456789012"
APPROVER = f"arn:aws:iam::{ACCOUNT}:role/payout-approver"
OTHER_APPROVER = f"arn:aws:iam::{ACCOUNT}:role/payout-approver-2"
# what the cashier adds to its next amounts, one entry per task attempt (a test's stand-in for a model agent that
# proposes other arguments once its first call was approved)
DRIFT: list[int] = []


class ApproveRequest(Boundary):
    item_id: str = Field(pattern=ITEM_ID)
    split: int = Field(default=1, ge=1, le=3)


class CashierInput(Boundary):
    reader: ItemFound
    part: int = Field(default=0, ge=0, le=3)


class Paid(Boundary):
    payment_id: str = Field(pattern=r"^pm_[a-f0-9]{1,32}$")
    amount_cents: int


def payout_of(found: ItemFound, part: int) -> dict[str, object]:
    """The payout a cashier task makes: its item's account, its price (plus the part: each part its own call)."""
    if found.item is None:
        raise AgentTaskFailed("no item to pay for")
    return {"account": found.item.account, "amount_cents": found.item.price_cents + part, "memo": f"part {part}"}


def cashier(task: CashierInput, tools: ToolBox) -> Paid:
    arguments = payout_of(task.reader, task.part)
    if DRIFT:
        arguments["amount_cents"] = int(str(arguments["amount_cents"])) + DRIFT.pop(0)
    paid = tools.call("pay_out", **arguments)
    return Paid(payment_id=paid["payment_id"], amount_cents=int(str(arguments["amount_cents"])))


def _keys(split: int) -> list[str]:
    return ["cashier"] if split == 1 else [f"cash_{part}" for part in range(1, split + 1)]


class ApprovePlanner:
    """reader -> the cashier tasks (one stage) -> finish with what each paid or why it did not."""

    def decide(self, run: RunView) -> Decision:
        reader = run.latest("reader")
        if reader is None:
            return Delegate(tasks=[Task(agent="reader")], reason="read the item")
        if reader.status is not TaskStatus.SUCCEEDED:
            return Fail(reason="reader failed")
        split = int(str(run.value("split")))
        keys = _keys(split)
        if run.latest(keys[0]) is None:
            parts = [0] if split == 1 else list(range(1, split + 1))
            tasks = [Task(agent="cashier", key=k, params={"part": p}) for k, p in zip(keys, parts, strict=True)]
            if split > 1:  # and, in the same stage, a task no policy holds: it folds while the others wait
                tasks.append(Task(agent="reader", key="recheck"))
            return Delegate(tasks=tasks, reason="pay the item's account")
        return Finish(result=_settled(run, keys))


def _settled(run: RunView, keys: list[str]) -> dict[str, object]:
    paid: dict[str, object] = {}
    refused: dict[str, object] = {}
    for key in keys:
        outcome = run.latest(key)
        if outcome is not None and outcome.status is TaskStatus.SUCCEEDED:
            paid[key] = run.value(key)
        elif outcome is not None:
            refused[key] = {"error_type": outcome.error_type, "error": outcome.error}
    return {"paid": paid, "refused": refused}


class PlannedApprovalPlanner:
    """reader -> AwaitApproval(the cashier's exact payout) -> the cashier, carrying the grant -> finish."""

    def decide(self, run: RunView) -> Decision:
        reader = run.latest("reader")
        if reader is None:
            return Delegate(tasks=[Task(agent="reader")], reason="read the item")
        cashier_outcome = run.latest("cashier")
        if cashier_outcome is None:
            found = ItemFound.model_validate(run.value("reader"))
            return AwaitApproval(
                task=Task(agent="cashier"),
                tool="pay_out",
                arguments=payout_of(found, 0),  # type: ignore[arg-type]
                reason="the planner asks before it pays",
            )
        return Finish(result=_settled(run, ["cashier"]))


RESOURCES = [
    *testapp.RESOURCES,
    ResourceSpec(kind=ResourceKind.QUEUE, name="approval_requests", description="what approvers are asked"),
]
CASHIER = AgentSpec(
    name="cashier",
    description="pays an item's account; every payout is held for a person",
    implementation="tests.testapp.approvals:cashier",
    input_model=CashierInput,
    output_model=Paid,
    tools=("pay_out",),
    context_keys=("reader",),
    policies=PolicyFile(package="tests.testapp", name="approval_policies.cedar"),
)
READER = next(agent for agent in testapp.AGENTS if agent.name == "reader")
APPROVALS = ApprovalSettings(
    approver_roles=(APPROVER, OTHER_APPROVER),
    notify=ResourceRef(kind=ResourceKind.QUEUE, name="approval_requests"),
    default_expiry_seconds=3600,
)
APPROVE = WorkflowSpec(
    name="approve",
    description="pay out, each payout approved by a person",
    input_model=ApproveRequest,
    planner="tests.testapp.approvals:ApprovePlanner",
    agents=("reader", "cashier"),
    trusted_input_keys=("item_id", "split"),
    approvals=APPROVALS,
    offline_fixture="tests.testapp.offline:prepare",
)
WORKFLOWS = [
    APPROVE,
    APPROVE.model_copy(
        update={
            "name": "approve-planned",
            "planner": "tests.testapp.approvals:PlannedApprovalPlanner",
            "offline_fixture": None,
        }
    ),
    APPROVE.model_copy(update={"name": "approve-none", "approvals": None, "offline_fixture": None}),
]
TOOLS = [tool for tool in testapp.TOOLS if tool.name in {"read_item", "pay_out"}]

CATALOG: Catalog = build_catalog(resources=RESOURCES, tools=TOOLS, agents=[READER, CASHIER], workflows=WORKFLOWS)
