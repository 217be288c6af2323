"""The Rule of Two at catalog load: an agent with (A) untrusted input, (B) sensitive data and (C) state change or
egress is refused unless every (C) tool is gated by an unconditional approval policy; split in two (the dual-model
pattern), it loads. And the classification of every agent of the example apps, as `baton workflows` shows it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from baton.catalog import (
    AgentSpec,
    Catalog,
    CatalogError,
    Grant,
    ModelSpec,
    PolicyFile,
    ResourceKind,
    ResourceRef,
    ResourceSpec,
    SideEffect,
    ToolSpec,
    WorkflowSpec,
    build_catalog,
)
from baton.rule_of_two import classify, classify_all
from refund_app.catalog import CATALOG as REFUND
from support_triage_app.catalog import CATALOG as TRIAGE
from tests.testapp.catalog import MODEL_CATALOG

_packages = itertools.count()


class Boundary(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Email(Boundary):
    customer_id: str = Field(pattern=r"^CUST-\d{1,6}$")
    body: str = Field(max_length=5000)  # the customer's own words: untrusted


class CustomerArgs(Boundary):
    customer_id: str = Field(pattern=r"^CUST-\d{1,6}$")


class ReplyArgs(Boundary):
    customer_id: str = Field(pattern=r"^CUST-\d{1,6}$")
    text: str = Field(max_length=2000)


class AssistantInput(Boundary):
    customer_id: str
    body: str


class Reply(Boundary):
    sent: bool


class Triage(Boundary):
    """What the quarantined agent may return: schema-constrained values only, never free text."""

    intent: Literal["refund", "delivery", "other"]
    order_id: str | None = Field(default=None, pattern=r"^ORD-\d{4,10}$")
    urgent: bool


class TriageWithSummary(Triage):
    summary: str  # free text: instructions can ride on it


class TriagerInput(Boundary):
    body: str


class ResponderInput(Boundary):
    customer_id: str
    triager: Triage


def noop(args: BaseModel, ctx: Any) -> None:
    return None


TOOLS = [
    ToolSpec(
        name="read_crm",
        description="read a customer's record",
        implementation="tests.unit.test_rule_of_two:noop",
        arguments=CustomerArgs,
        side_effect=SideEffect.READ,
        output_trusted=True,
        grants=(Grant(actions=("dynamodb:GetItem",), resource=ResourceRef(kind=ResourceKind.TABLE, name="crm")),),
    ),
    ToolSpec(
        name="send_reply",
        description="email the customer",
        implementation="tests.unit.test_rule_of_two:noop",
        arguments=ReplyArgs,
        side_effect=SideEffect.WRITE,
        output_trusted=True,
        grants=(Grant(actions=("sns:Publish",), resource=ResourceRef(kind=ResourceKind.TOPIC, name="mail")),),
    ),
]
MODEL = ModelSpec(model_id="amazon.nova-lite-v1:0")


def resources(crm_public: bool = False) -> list[ResourceSpec]:
    return [
        ResourceSpec(kind=ResourceKind.TABLE, name="crm", description="c", partition_key="id", public=crm_public),
        ResourceSpec(kind=ResourceKind.TOPIC, name="mail", description="m"),
    ]


def assistant(policies: PolicyFile | None = None) -> AgentSpec:
    """The agent the Rule of Two is about: reads the customer's email (A), their CRM record (B), and replies (C)."""
    return AgentSpec(
        name="inbox_assistant",
        description="answers a customer's email",
        model=MODEL,
        instructions="Answer the customer's email from their record.",
        input_model=AssistantInput,
        output_model=Reply,
        tools=("read_crm", "send_reply"),
        context_keys=("customer_id", "body"),
        policies=policies,
    )


def workflow(agents: tuple[str, ...]) -> WorkflowSpec:
    return WorkflowSpec(
        name="inbox",
        description="i",
        input_model=Email,
        planner="refund_app.planner:RefundPlanner",
        agents=agents,
        trusted_input_keys=("customer_id",),
    )


def one_agent_catalog(policies: PolicyFile | None = None, *, crm_public: bool = False) -> Catalog:
    return build_catalog(
        resources=resources(crm_public),
        tools=TOOLS,
        agents=[assistant(policies)],
        workflows=[workflow(("inbox_assistant",))],
    )


def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, *, log_only: bool = False) -> PolicyFile:
    package = f"rule_of_two_policies_{next(_packages)}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "policies.cedar").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return PolicyFile(package=package, log_only=log_only)


PERMIT = '@id("assistant-tools")\npermit (principal == Baton::Agent::"inbox_assistant", action, resource);\n'
GATE_REPLIES = (
    '@id("replies-need-approval")\n@approval("a person reads each reply before it is sent")\n'
    'forbid (principal == Baton::Agent::"inbox_assistant", action == Baton::Action::"send_reply", resource);\n'
)


@pytest.mark.attack("ASI01")
def test_an_agent_with_untrusted_input_sensitive_data_and_a_state_change_is_refused_at_load() -> None:
    # Given an assistant reading untrusted email, a CRM not declared public, and able to send replies (exfiltration)
    with pytest.raises(CatalogError, match="agent 'inbox_assistant' breaks the Rule of Two") as refused:
        one_agent_catalog()
    # Then the refusal names each of the three, and the way out
    message = str(refused.value)
    assert "context key 'body' is untrusted input of workflow 'inbox'" in message
    assert "tool 'read_crm' reads table 'crm' (not declared public)" in message
    assert "tool 'send_reply' is write" in message
    assert "gate each of ['send_reply'] with an unconditional @approval policy, or split the agent" in message


def test_the_same_agent_loads_once_every_state_changing_tool_is_gated_by_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = one_agent_catalog(policy_file(tmp_path, monkeypatch, PERMIT + GATE_REPLIES))
    verdict = classify(catalog, "inbox_assistant")
    assert verdict.classes == "ABC"
    assert verdict.allowed
    assert (verdict.gated_tools, verdict.ungated_tools) == (["send_reply"], [])
    assert verdict.summary() == "ABC, every C tool gated by approval"


@pytest.mark.parametrize(
    ("text", "log_only"),
    [
        (
            PERMIT + GATE_REPLIES.replace("resource);", 'resource) when { context.arguments.text like "*http*" };'),
            False,
        ),
        (PERMIT + GATE_REPLIES.replace("@approval", "@log_only\n@approval"), False),
        (PERMIT + GATE_REPLIES, True),
        (PERMIT + GATE_REPLIES.replace('"send_reply"', '"read_crm"'), False),
    ],
    ids=["conditional-approval", "log-only-policy", "log-only-file", "approval-on-another-tool"],
)
def test_a_gate_that_does_not_hold_every_call_does_not_satisfy_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, log_only: bool
) -> None:
    # Given approval rules that an attacker could slip past (a condition to dodge, a rule only watched, another tool)
    with pytest.raises(CatalogError, match="breaks the Rule of Two"):
        one_agent_catalog(policy_file(tmp_path, monkeypatch, text, log_only=log_only))


def test_data_declared_public_is_not_sensitive() -> None:
    verdict = classify(one_agent_catalog(crm_public=True), "inbox_assistant")
    assert (verdict.classes, verdict.sensitive_data) == ("AC", [])


def split(triage_output: type[BaseModel]) -> Catalog:
    """The dual-model split: a quarantined triager reads the email and returns constrained values; a privileged
    responder, which never sees the email's text, reads the CRM and replies."""
    triager = AgentSpec(
        name="triager",
        description="reads the customer's email; no tools",
        model=MODEL,
        instructions="Classify the customer's email.",
        input_model=TriagerInput,
        output_model=triage_output,
        context_keys=("body",),
    )
    responder_input = ResponderInput
    if triage_output is TriageWithSummary:

        class ResponderInputWithSummary(Boundary):
            customer_id: str
            triager: TriageWithSummary

        responder_input = ResponderInputWithSummary  # type: ignore[assignment]
    responder = AgentSpec(
        name="responder",
        description="replies from the CRM and the triage",
        implementation="tests.unit.test_rule_of_two:noop",
        input_model=responder_input,
        output_model=Reply,
        tools=("read_crm", "send_reply"),
        context_keys=("customer_id", "triager"),
    )
    return build_catalog(
        resources=resources(),
        tools=TOOLS,
        agents=[triager, responder],
        workflows=[workflow(("triager", "responder"))],
    )


def test_split_in_two_with_a_quarantined_agent_returning_constrained_values_it_loads() -> None:
    verdicts = classify_all(split(Triage))
    assert verdicts["triager"].classes == "A"
    assert verdicts["responder"].classes == "BC"


@pytest.mark.attack("ASI01")
def test_a_quarantined_agent_that_returns_free_text_passes_the_untrusted_input_on() -> None:
    # the split is no split if the quarantined agent can hand the attacker's words on
    with pytest.raises(CatalogError, match="agent 'responder' breaks the Rule of Two") as refused:
        split(TriageWithSummary)
    assert "context key 'triager' is the output of agent 'triager', which may be untrusted" in str(refused.value)


def test_every_agent_of_the_example_apps_is_classified() -> None:
    classes = {
        name: verdict.classes
        for catalog in (REFUND, TRIAGE, MODEL_CATALOG)
        for name, verdict in classify_all(catalog).items()
    }
    assert classes == {
        # refund
        "order_lookup": "B",
        "return_policy": "-",  # the return policy is declared public
        "payment_reversal": "AC",  # the payment provider's answer is untrusted; under Cedar policies
        "case_escalator": "C",
        "customer_notifier": "AC",  # it reads payment_reversal's output
        # support-triage (order_lookup, return_policy, payment_reversal and customer_notifier as above)
        "faq": "AB",
        "handoff": "AC",
        # the test app (its items are a public listing)
        "reader": "-",
        "rater": "AC",  # an external service: untrusted, and egress
        "scorer": "-",
        "notifier": "C",
        "payer": "AC",
        "summarizer": "-",
        "assistant": "AC",
    }
