"""Tool-call policies (Cedar, baton.policy) enforced by the toolbox: deny by default, forbid wins, @approval holds a
call for a person, a grant lets exactly one approved call run, log-only records without enforcing, and a policy
file that does not fit its catalog is refused when the catalog loads. Each test is an attack that must fail, or
the control that shows the policies are what stopped it."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import time
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from baton.aws import AwsClients
from baton.catalog import (
    AgentSpec,
    Catalog,
    CatalogError,
    Grant,
    PolicyFile,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.models import ApprovalGrant, PriorCall, arguments_sha256
from baton.policy import PolicyEngine, can_require_approval, generate_schema
from baton.secrets import SecretsBroker
from baton.tools import ApprovalRequired, ToolBox, ToolContext, ToolDenied

RAN: list[tuple[str, dict[str, Any]]] = []
_packages = itertools.count()


class Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransferArgs(Boundary):
    account: str = Field(pattern=r"^ACC-\d{3}$")
    amount_cents: int = Field(gt=0)
    currency: Literal["USD", "EUR"] = "USD"
    memo: str | None = None


class NoteArgs(Boundary):
    text: str = Field(max_length=200)
    tags: list[str] = Field(default_factory=list)
    urgent: bool = False
    weight: float = 1.0  # no Cedar type: left out of the context


class LookupArgs(Boundary):
    account: str = Field(pattern=r"^ACC-\d{3}$")


def run_tool(args: BaseModel, ctx: ToolContext) -> dict[str, Any]:
    RAN.append((ctx.tool.name, args.model_dump(mode="json")))
    return {"done": ctx.tool.name}


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, *, log_only: bool = False) -> PolicyFile:
    """A policy file in a package of its own (a new name each time: parsed files are cached by name)."""
    package = f"policies_under_test_{next(_packages)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / package).mkdir(parents=True)
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "policies.cedar").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return PolicyFile(package=package, log_only=log_only)


def _tool(name: str, arguments: type[BaseModel], side_effect: SideEffect, **extra: Any) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=name,
        implementation="tests.unit.test_policy:run_tool",
        arguments=arguments,
        side_effect=side_effect,
        **extra,
    )


TOOLS = [
    _tool(
        "transfer",
        TransferArgs,
        SideEffect.IRREVERSIBLE,
        # the taint floor lets it through, so the policies decide what untrusted arguments may do
        untrusted_arguments_allowed="the bank caps transfers from this account",
    ),
    _tool("note", NoteArgs, SideEffect.WRITE, output_trusted=True),
    _tool(
        "lookup",
        LookupArgs,
        SideEffect.READ,
        output_trusted=True,
        grants=(Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="accounts")),),
    ),
    _tool("fetch", LookupArgs, SideEffect.READ, egress=("api.example.com",)),
]


def make_catalog(
    payer_policies: PolicyFile | None, *, clerk_policies: PolicyFile | None = None, execution: str = "standard"
) -> Catalog:
    def agent(name: str, tools: tuple[str, ...], policies: PolicyFile | None) -> AgentSpec:
        return AgentSpec(
            name=name,
            description=name,
            implementation="tests.unit.test_policy:run_tool",
            input_model=LookupArgs,
            output_model=LookupArgs,
            tools=tools,
            policies=policies,
        )

    return build_catalog(
        # public: the payer is A+C, so the Rule of Two (tests/unit/test_rule_of_two.py) leaves these tests alone
        resources=[
            ResourceSpec(kind=ResourceKind.TABLE, name="accounts", description="a", partition_key="id", public=True)
        ],
        tools=TOOLS,
        agents=[
            agent("payer", ("transfer", "note", "lookup"), payer_policies),
            agent("clerk", ("note",), clerk_policies),
        ],
        workflows=[
            WorkflowSpec(
                name="pay",
                description="p",
                input_model=LookupArgs,
                planner="refund_app.planner:RefundPlanner",
                agents=("payer", "clerk"),
                trusted_input_keys=("account",),
                execution=execution,  # type: ignore[arg-type]
            )
        ],
    )


def toolbox(catalog: Catalog, agent: str = "payer", *, trusted: bool = True, **options: Any) -> ToolBox:
    def make_context(spec: ToolSpec) -> ToolContext:
        return ToolContext(spec, "run-1", {}, AwsClients(), SecretsBroker(lambda: None, {}), None)  # type: ignore[arg-type]

    spec = catalog.agents[agent]
    engine = PolicyEngine(catalog, spec) if spec.policies is not None else None
    return ToolBox(spec, catalog, make_context, inputs_trusted=trusted, policies=engine, **options)


PERMIT_PAYER = """
@id("payer-transfers")
permit (principal == Baton::Agent::"payer", action == Baton::Action::"transfer", resource);
@id("payer-notes")
permit (principal == Baton::Agent::"payer", action == Baton::Action::"note", resource);
"""
ABOVE_100 = """
@id("above-100-needs-approval")
@approval("a transfer above 100.00 needs a person")
@expires("3600")
forbid (principal, action == Baton::Action::"transfer", resource) when { context.arguments.amount_cents > 10000 };
"""
SMALL = {"account": "ACC-100", "amount_cents": 500}
LARGE = {"account": "ACC-100", "amount_cents": 25000}


# ---------------------------------------------------------------- allow, deny by default, forbid wins


def test_a_call_a_policy_permits_runs_and_its_record_names_the_permit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an agent whose policies permit its transfers
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER)))
    # When it transfers
    box.call("transfer", **SMALL)
    # Then the call ran, and its record carries the decision and the policy that gave it
    assert RAN == [("transfer", {**SMALL, "currency": "USD", "memo": None})]
    [record] = box.records
    assert (record.outcome, record.policy_effect, record.policy_ids) == ("ok", "allow", ["payer-transfers"])
    assert record.policy_log_only is False


@pytest.mark.attack("ASI02")
def test_deny_by_default_a_tool_no_policy_permits_is_refused_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an agent under policies that permit its transfers and notes, but never its lookups
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER)))
    # When it calls the allowlisted lookup tool
    with pytest.raises(ToolDenied, match="no policy permits it"):
        box.call("lookup", account="ACC-100")
    # Then nothing ran, the task is marked denied, and the denial is recorded with the decision
    assert RAN == []
    assert box.denied
    [record] = box.records
    assert (record.outcome, record.policy_effect, record.policy_ids) == ("denied", "deny", [])


def test_an_agent_without_any_permitting_policy_can_call_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the clerk under a file whose only policy is about the payer
    file = policy_file(
        tmp_path, monkeypatch, '@id("payer-only")\npermit (principal == Baton::Agent::"payer", action, resource);'
    )
    box = toolbox(make_catalog(file, clerk_policies=file), "clerk")
    # Then its one tool is denied (deny by default), though the allowlist holds it
    with pytest.raises(ToolDenied, match="no policy permits it"):
        box.call("note", text="hello")
    assert RAN == []


@pytest.mark.attack("ASI02")
def test_forbid_beats_permit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a permit for every transfer, and a forbid of transfers to one account
    text = PERMIT_PAYER + (
        '@id("no-transfers-to-acc-666")\n'
        'forbid (principal, action == Baton::Action::"transfer", resource) '
        'when { context.arguments.account == "ACC-666" };'
    )
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, text)))
    # When the agent transfers to that account
    with pytest.raises(ToolDenied, match="a policy forbids it"):
        box.call("transfer", account="ACC-666", amount_cents=100)
    # Then the forbid decided, and nothing ran
    assert box.records[-1].policy_ids == ["no-transfers-to-acc-666"]
    assert RAN == []
    # while another account still gets its transfer (the control)
    box2 = toolbox(make_catalog(policy_file(tmp_path / "again", monkeypatch, text)))
    box2.call("transfer", account="ACC-100", amount_cents=100)
    assert len(RAN) == 1


# ---------------------------------------------------------------- approval, grants


def test_a_call_an_approval_policy_matches_is_held_with_its_exact_pending_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a permit for transfers and an approval rule above 100.00
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER + ABOVE_100)))
    # When the agent transfers 250.00
    with pytest.raises(ApprovalRequired) as held:
        box.call("transfer", **LARGE)
    # Then nothing ran, and the pending call binds the tool and the hash of its validated arguments
    assert RAN == []
    pending = held.value.pending
    validated = {**LARGE, "currency": "USD", "memo": None}
    assert pending.model_dump() == {
        "agent": "payer",
        "tool": "transfer",
        "arguments_sha256": arguments_sha256("transfer", validated),
        "arguments": validated,
        "policy_ids": ["above-100-needs-approval"],
        "reason": "a transfer above 100.00 needs a person",
        "expires_in_seconds": 3600,
    }
    assert box.pending == pending
    assert not box.denied
    [record] = box.records
    assert (record.outcome, record.policy_effect) == ("needs_approval", "approval")
    # and a held call ends the task: the agent cannot go on to another call
    with pytest.raises(ApprovalRequired):
        box.call("transfer", **SMALL)
    assert RAN == []


def _grant(
    arguments: dict[str, Any], *, agent: str = "payer", expires_in: int = 600, grant_id: str = "grant-0001"
) -> ApprovalGrant:
    validated = {"currency": "USD", "memo": None, **arguments}
    return ApprovalGrant(
        grant_id=grant_id,
        agent=agent,
        tool="transfer",
        arguments_sha256=arguments_sha256("transfer", validated),
        expires_at=int(time.time()) + expires_in,
    )


def test_a_grant_for_exactly_the_call_lets_it_run_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a grant for the 250.00 transfer
    file = policy_file(tmp_path, monkeypatch, PERMIT_PAYER + ABOVE_100)
    box = toolbox(make_catalog(file), grants=[_grant(LARGE)])
    # When the agent makes exactly that call
    box.call("transfer", **LARGE)
    # Then it ran, and its record names the grant it used
    assert len(RAN) == 1
    record = box.records[-1]
    assert (record.outcome, record.policy_effect, record.grant_id) == ("ok", "approval", "grant-0001")
    # When it makes the same call a second time in the task: the grant is spent, so it is held again
    with pytest.raises(ApprovalRequired):
        box.call("transfer", **LARGE)
    assert len(RAN) == 1


@pytest.mark.parametrize(
    ("grant", "why"),
    [
        (_grant({**LARGE, "amount_cents": 25001}), "a grant for other arguments"),
        (_grant({**LARGE, "account": "ACC-666"}), "a grant for another account"),
        (_grant(LARGE, agent="clerk"), "a grant for another agent"),
        (_grant(LARGE, expires_in=-1), "an expired grant"),
    ],
    ids=["other-amount", "other-account", "other-agent", "expired"],
)
def test_a_grant_for_anything_but_this_exact_call_does_not_authorize_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grant: ApprovalGrant, why: str
) -> None:
    # Given a model that, once approved, proposes a call other than the approved one (or too late)
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER + ABOVE_100)), grants=[grant])
    # Then the call is held again, and nothing ran
    with pytest.raises(ApprovalRequired):
        box.call("transfer", **LARGE)
    assert RAN == [], why
    assert box.records[-1].grant_id is None


def test_a_grant_does_not_bypass_a_forbid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a grant for a transfer that a plain forbid also matches
    text = (
        PERMIT_PAYER
        + ABOVE_100
        + ('@id("frozen-account")\nforbid (principal, action, resource) when { context has arguments };')
    )
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, text)), grants=[_grant(LARGE)])
    # Then the forbid wins over the approval: denied, grant unused
    with pytest.raises(ToolDenied):
        box.call("transfer", **LARGE)
    assert RAN == []


# ---------------------------------------------------------------- context: taint, flags, counters


TAINT_RULE = """
@id("tainted-irreversible-needs-approval")
@approval("an irreversible call after untrusted data needs a person")
forbid (principal, action in Baton::Action::"irreversible", resource)
when { context.taint.untrusted || context.taint.flagged };
"""


@pytest.mark.parametrize(
    "options",
    [{"trusted": False}, {"flagged": True}],
    ids=["untrusted-inputs", "flagged-inputs"],
)
def test_an_irreversible_call_with_tainted_arguments_needs_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    # Given the taint rule, and a task whose inputs are untrusted (or were flagged by the injection detector)
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER + TAINT_RULE)), **options)
    # Then a small transfer that would otherwise run is held
    with pytest.raises(ApprovalRequired, match="after untrusted data"):
        box.call("transfer", **SMALL)
    assert RAN == []


def test_a_task_that_read_untrusted_output_is_tainted_for_the_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        PERMIT_PAYER
        + TAINT_RULE
        + '@id("payer-fetches")\npermit (principal, action == Baton::Action::"fetch", resource);'
    )
    catalog = make_catalog(policy_file(tmp_path, monkeypatch, text))
    spec = catalog.agents["payer"].model_copy(update={"tools": ("transfer", "fetch")})
    box = ToolBox(
        spec,
        catalog,
        lambda tool: ToolContext(tool, "run-1", {}, AwsClients(), SecretsBroker(lambda: None, {}), None),  # type: ignore[arg-type]
        inputs_trusted=True,
        policies=PolicyEngine(catalog, spec),
    )
    box.call("transfer", **SMALL)  # the control: before any untrusted read, it runs
    box.call("fetch", account="ACC-100")  # untrusted output: the task is tainted from here on
    with pytest.raises(ApprovalRequired):
        box.call("transfer", **SMALL)
    assert [name for name, _ in RAN] == ["transfer", "fetch"]


def test_at_most_one_transfer_per_account_per_run_and_a_run_wide_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given rules on the run's earlier calls (as the orchestrator hands them in): one transfer per account, and
    # at most 300.00 in total
    text = PERMIT_PAYER + (
        '@id("one-per-account")\n'
        'forbid (principal, action == Baton::Action::"transfer", resource) when { context.prior.same.account > 0 };\n'
        '@id("run-total")\n'
        'forbid (principal, action == Baton::Action::"transfer", resource) '
        "when { context.prior.sum.amount_cents + context.arguments.amount_cents > 30000 };"
    )
    file = policy_file(tmp_path, monkeypatch, text)
    earlier = [PriorCall(agent="payer", tool="transfer", stage=1, arguments={**SMALL, "currency": "USD"})]
    box = toolbox(make_catalog(file), prior_calls=earlier)
    # When the agent repeats a transfer to the same account in the same run
    with pytest.raises(ToolDenied):
        box.call("transfer", **SMALL)
    assert box.records[-1].policy_ids == ["one-per-account"]
    # and when it pays another account beyond the run's total
    box = toolbox(make_catalog(file), prior_calls=earlier)
    with pytest.raises(ToolDenied):
        box.call("transfer", account="ACC-200", amount_cents=29600)
    assert box.records[-1].policy_ids == ["run-total"]
    # Then nothing ran; within the total, another account is paid (the control)
    assert RAN == []
    toolbox(make_catalog(file), prior_calls=earlier).call("transfer", account="ACC-200", amount_cents=29500)
    assert len(RAN) == 1


# ---------------------------------------------------------------- log-only


def test_a_log_only_policy_records_what_it_would_have_done_and_lets_the_call_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new forbid the team is watching before enforcing it
    text = (
        PERMIT_PAYER
        + '@id("watch-big")\n@log_only\nforbid (principal, action, resource) when { context has arguments };'
    )
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, text)))
    # When the agent transfers
    box.call("transfer", **SMALL)
    # Then the call ran, and the record says what the policy would have done
    assert len(RAN) == 1
    record = box.records[-1]
    assert (record.outcome, record.policy_effect, record.policy_ids, record.policy_log_only) == (
        "ok",
        "deny",
        ["watch-big"],
        True,
    )


def test_a_log_only_policy_file_records_a_would_be_hold_and_lets_the_call_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER + ABOVE_100, log_only=True)))
    box.call("transfer", **LARGE)
    box.call("lookup", account="ACC-100")  # no permit: would be denied
    assert len(RAN) == 2
    assert [(r.policy_effect, r.policy_log_only) for r in box.records] == [("approval", True), ("deny", True)]
    assert box.pending is None
    assert not box.denied


# ---------------------------------------------------------------- failing closed


@pytest.mark.attack("ASI02")
def test_a_forbid_that_fails_to_evaluate_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a forbid whose arithmetic overflows at evaluation (Cedar skips an erroring policy: Baton must not)
    text = PERMIT_PAYER + (
        '@id("overflows")\nforbid (principal, action == Baton::Action::"transfer", resource) '
        "when { context.arguments.amount_cents * 9223372036854775807 > 0 };"
    )
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, text)))
    with pytest.raises(ToolDenied, match="failed to evaluate"):
        box.call("transfer", **SMALL)
    assert box.records[-1].policy_ids == ["overflows"]
    assert RAN == []


def test_an_argument_beyond_cedars_integers_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = toolbox(make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER)))
    with pytest.raises(ToolDenied, match="64 bits"):
        box.call("transfer", account="ACC-100", amount_cents=2**70)
    assert RAN == []


# ---------------------------------------------------------------- the schema, and refusals at load


def test_the_schema_types_each_tools_validated_arguments() -> None:
    schema = generate_schema(make_catalog(None))["Baton"]
    transfer = schema["actions"]["transfer"]
    assert transfer["memberOf"] == [{"id": "call"}, {"id": "irreversible"}]
    assert transfer["appliesTo"]["context"]["attributes"]["arguments"]["attributes"] == {
        "account": {"type": "String", "required": True},
        "amount_cents": {"type": "Long", "required": True},
        "currency": {"type": "String", "required": True},
        "memo": {"type": "String", "required": False},
    }
    note = schema["actions"]["note"]["appliesTo"]["context"]["attributes"]
    assert note["arguments"]["attributes"] == {
        "text": {"type": "String", "required": True},
        "tags": {"type": "Set", "element": {"type": "String"}, "required": True},
        "urgent": {"type": "Bool", "required": True},
    }  # weight (a float) has no Cedar type: a policy cannot read it
    assert set(note["prior"]["attributes"]["same"]["attributes"]) == {"text", "urgent"}
    assert note["prior"]["attributes"]["sum"]["attributes"] == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '@id("a")\npermit (principal, action == Baton::Action::"wire_money", resource);',
            "wire_money",
        ),
        (
            '@id("a")\nforbid (principal, action == Baton::Action::"transfer", resource) '
            "when { context.arguments.amount > 10 };",
            "amount",
        ),
        (
            '@id("a")\nforbid (principal, action == Baton::Action::"transfer", resource) '
            'when { context.arguments.amount_cents > "100" };',
            "policy 'a'",
        ),
        ('@id("a")\npermit (principal == Baton::Agent::"ghost", action, resource);', "agent 'ghost', which is unknown"),
        (
            '@id("a")\npermit (principal == Baton::Agent::"clerk", action, resource);',
            "agent 'clerk', which is not under this file",
        ),
        ('@id("a")\npermit (principal, action, resource == Baton::Tool::"wire_money");', "unknown tool 'wire_money'"),
        ("permit (principal, action, resource);", 'needs @id("...")'),
        (
            '@id("a")\npermit (principal, action, resource);\n@id("a")\nforbid (principal, action, resource);',
            "used twice",
        ),
        ('@id("a")\n@approval("why")\npermit (principal, action, resource);', "@approval belongs on a forbid"),
        ('@id("a")\n@approval("why")\n@expires("5")\nforbid (principal, action, resource);', "@expires must be"),
        ('@id("a")\n@aproval("why")\nforbid (principal, action, resource);', "unknown annotation @aproval"),
        ('@id("a")\npermit (principal, action, resource) when { ', "do not parse"),
        ("// nothing\n", "holds no policy"),
    ],
    ids=[
        "unknown-tool",
        "unknown-argument",
        "wrong-type",
        "unknown-agent",
        "agent-not-under-the-file",
        "unknown-tool-entity",
        "no-id",
        "duplicate-id",
        "approval-on-permit",
        "bad-expiry",
        "misspelt-annotation",
        "syntax",
        "empty",
    ],
)
def test_a_policy_that_does_not_fit_the_catalog_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    with pytest.raises(CatalogError, match="invalid catalog") as refused:
        make_catalog(policy_file(tmp_path, monkeypatch, text))
    assert problem in str(refused.value)


def test_a_missing_policy_file_is_refused_at_load() -> None:
    with pytest.raises(CatalogError, match=r"cannot read policies tests\.unit:missing\.cedar"):
        make_catalog(PolicyFile(package="tests.unit", name="missing.cedar"))


def test_an_express_workflow_whose_agents_policies_can_require_approval_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an approval rule on the payer: an Express execution cannot wait for a person
    file = policy_file(tmp_path, monkeypatch, PERMIT_PAYER + ABOVE_100)
    with pytest.raises(CatalogError, match="express workflow 'pay' uses agent 'payer', whose policies can require"):
        make_catalog(file, execution="express")
    # Then the same catalog, standard, loads; and so does Express when the rule is only watched (log-only)
    catalog = make_catalog(file)
    assert can_require_approval(catalog, "payer")
    assert not can_require_approval(catalog, "clerk")
    watched = policy_file(tmp_path / "watched", monkeypatch, PERMIT_PAYER + ABOVE_100, log_only=True)
    assert not can_require_approval(make_catalog(watched, execution="express"), "payer")
    plain = policy_file(tmp_path / "plain", monkeypatch, PERMIT_PAYER)
    assert not can_require_approval(make_catalog(plain, execution="express"), "payer")


def _without_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process where the Cedar engine is not installed (a Lambda asset shipped without it)."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cedarpy" else find_spec(name, *a)
    )


def test_a_lambda_function_shipped_with_the_engine_still_refuses_an_invalid_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Lambda function's environment (AWS_LAMBDA_FUNCTION_NAME) that ships the engine
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "baton-agent-payer")
    # When its catalog's policy names a tool that does not exist, Then the catalog is refused, as at synthesis
    wire_money = '@id("a")\npermit (principal, action == Baton::Action::"wire_money", resource);'
    with pytest.raises(CatalogError, match="invalid catalog"):
        make_catalog(policy_file(tmp_path, monkeypatch, wire_money))


def test_outside_lambda_a_missing_engine_never_skips_the_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a process that is not a Lambda function and has no engine (a CLI, a test, synthesis)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    _without_engine(monkeypatch)
    monkeypatch.setitem(sys.modules, "cedarpy", None)  # importing it fails, as where it is not installed
    # When a catalog under policies loads, Then it does not load unchecked: reading the policies fails
    with pytest.raises(ImportError):
        make_catalog(policy_file(tmp_path, monkeypatch, PERMIT_PAYER))


def test_a_lambda_function_shipped_without_the_engine_trusts_the_synthesis_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Lambda function shipped without the engine (it serves no agent under policies: an orchestrator, the api)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "baton-orchestrator-pay")
    _without_engine(monkeypatch)
    # When its catalog loads with a policy file synthesis would have refused
    wire_money = '@id("a")\npermit (principal, action == Baton::Action::"wire_money", resource);'
    catalog = make_catalog(policy_file(tmp_path, monkeypatch, wire_money))
    # Then the file is not read again: the function relies on the synthesis of the same files (the function that
    # enforces the policies, the agent's, ships the engine and checks them: the test above)
    assert catalog.agents["payer"].policies is not None
