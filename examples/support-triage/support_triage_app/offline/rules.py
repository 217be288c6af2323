"""The support-triage app's models, offline: deterministic rules standing in for the planner's and the FAQ agent's
Bedrock models (RuleModel doubles). They read what Baton sends a model, as a model would: the planner's view of the
run (trusted values as JSON, untrusted ones in data blocks, the steps so far) and the FAQ agent's conversation.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from baton.local.model_doubles import response, text, tool_results, tool_use, user_texts

_DATA_BLOCK = re.compile(r'<data key="([^"]*)"[^>]*trust="untrusted">\n(.*?)\n</data>', re.S)
# the planner's user message (baton.ai.planner.ModelPlanner.describe_run): the first marker comes before any
# untrusted text, the last after all of it, so a message quoting them cannot move them
_TRUSTED = "Trusted values of the run (JSON):\n"
_STEPS = "Steps so far (JSON):\n"
_QUESTION = re.compile(r"[^.?!\n]*\?")
REFUND_WORDS = ("refund", "money back", "broken", "damaged", "faulty", "does not fit", "stopped working")
# a refund asked for as a question ("can I have a refund?"), unlike a question about refunds
REFUND_ASKED = re.compile(r"\b(can|could|may) i (have|get) (a refund|my money back)", re.I)
PERSON_WORDS = ("a person", "human", "someone", "manager", "complaint", "call me")
_SENTENCE = re.compile(r"[^.?!\n]+[.?!\n]?")
MAX_ANSWER = 1_800


@dataclass(frozen=True)
class PlannerView:
    """What the model planner's first user message says of the run."""

    trusted: dict[str, Any]
    untrusted: dict[str, str]
    steps: list[dict[str, Any]]

    @classmethod
    def of(cls, request: dict[str, Any]) -> PlannerView:
        message = next(user_texts(request), "")
        _, _, after_trusted = message.partition(_TRUSTED)
        _, _, after_steps = message.rpartition(_STEPS)
        trusted = json.loads(after_trusted.split("\n", 1)[0] or "{}")
        steps = json.loads(after_steps.split("\n", 1)[0] or "[]")
        untrusted = {key: html.unescape(value) for key, value in _DATA_BLOCK.findall(message)}
        return cls(trusted, untrusted, steps)

    def status(self, agent: str) -> str | None:
        """The latest step of `agent`: "succeeded", "failed", ... or None when it has not run."""
        found = [step["status"] for step in self.steps if step["agent"] == agent]
        return found[-1] if found else None

    def value(self, key: str) -> Any:
        """A value of the run, trusted or not (an untrusted one was shown as a JSON text in its data block)."""
        if key in self.trusted:
            return self.trusted[key]
        raw = self.untrusted.get(key)
        try:
            return None if raw is None else json.loads(raw)
        except ValueError:
            return raw


def _delegate(reason: str, *tasks: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    uses = [tool_use(agent, params, f"task-{n}") for n, (agent, params) in enumerate(tasks, start=1)]
    return response(text(reason), *uses)


def _finish(reason: str, result: dict[str, Any]) -> dict[str, Any]:
    return response(text(reason), tool_use("finish", result, "finish-1"))


def _fail(reason: str) -> dict[str, Any]:
    return response(text(reason), tool_use("fail", {"reason": reason}, "fail-1"))


def intent(message: str) -> str:
    """ "person", "refund" (a statement about a refund-worthy problem, or a refund asked for) or "question"."""
    words = message.lower()
    if any(word in words for word in PERSON_WORDS):
        return "person"
    statements = [s for s in _SENTENCE.findall(words) if not s.rstrip().endswith("?")]
    if REFUND_ASKED.search(words) or any(word in s for s in statements for word in REFUND_WORDS):
        return "refund"
    return "question"


def triage(request: dict[str, Any]) -> dict[str, Any]:
    """The planner's model: triage the customer's message, then follow its path one step at a time."""
    view = PlannerView.of(request)
    if view.status("handoff") is not None:
        return _after_handoff(view)
    chosen = intent(str(view.untrusted.get("message", "")))
    if chosen == "person":
        return _delegate("the customer asks for a person", ("handoff", {"reason": "the customer asked for a person"}))
    if chosen == "question":
        return _question(view)
    return _refund(view)


def _after_handoff(view: PlannerView) -> dict[str, Any]:
    if view.status("handoff") != "succeeded":
        return _fail("the hand-off to a person failed")
    if view.status("customer_notifier") not in (None, "succeeded"):
        return _fail("the customer could not be told of the hand-off")
    case = view.value("handoff") or {}
    return _finish("a person takes over", {"outcome": "handed_off", "case_id": case.get("case_id")})


def _question(view: PlannerView) -> dict[str, Any]:
    faq = view.status("faq")
    if faq is None:
        tasks: list[tuple[str, dict[str, Any]]] = [("faq", {})]
        if view.status("order_lookup") is None:
            tasks.append(("order_lookup", {}))
        return _delegate("a question: the FAQ agent answers it, the order gives it context", *tasks)
    answer = view.value("faq") if faq == "succeeded" else None
    if not isinstance(answer, dict) or not answer.get("answered"):
        return _delegate(
            "the articles do not answer it: a person takes over",
            ("handoff", {"reason": "the FAQ agent could not answer the question"}),
        )
    lookup = view.value("order_lookup") or {}
    order = lookup.get("order") or {}
    result = {
        "outcome": "answered",
        "answer": answer["answer"],
        "articles": answer.get("article_ids", []),
        "order": {"order_id": order.get("order_id"), "delivered_on": order.get("delivered_on")},
    }
    return _finish("the question is answered", result)


def _refund(view: PlannerView) -> dict[str, Any]:
    lookup = view.status("order_lookup")
    if lookup is None:
        return _delegate("a refund request: look up the order", ("order_lookup", {}))
    if lookup != "succeeded":
        return _fail("the order lookup failed")
    found = view.value("order_lookup")
    if not found.get("found"):
        return _finish("there is no such order", {"outcome": "rejected", "reason": "order not found"})
    if found["order"]["customer_id"] != view.value("customer_id"):
        return _delegate(
            "the order is not the signed-in customer's", ("handoff", {"reason": "order of another customer"})
        )
    policy = view.status("return_policy")
    if policy is None:
        return _delegate("check the order against the return policy", ("return_policy", {}))
    if policy != "succeeded":
        return _fail("the return policy check failed")
    verdict = view.value("return_policy")
    if view.status("customer_notifier") is not None:
        return _refund_result(view, verdict)
    if verdict["decision"] == "window_expired":
        return _delegate(f"no refund: {verdict['reason']}", ("customer_notifier", {}))
    if verdict["decision"] == "needs_review":
        return _escalate(verdict["reason"])
    payment = view.status("payment_reversal")
    if payment is None:
        return _delegate("eligible: reverse the payment", ("payment_reversal", {}))
    if payment == "succeeded":
        return _delegate("refunded: tell the customer", ("customer_notifier", {}))
    return _escalate("the payment reversal failed")


def _escalate(reason: str) -> dict[str, Any]:
    return _delegate(
        f"{reason}: a person reviews it",
        ("handoff", {"reason": reason[:300]}),
        ("customer_notifier", {"escalated": True}),
    )


def _refund_result(view: PlannerView, verdict: dict[str, Any]) -> dict[str, Any]:
    order = view.value("order_lookup")["order"]
    result: dict[str, Any] = {"order_id": order["order_id"], "policy": verdict["decision"]}
    if view.status("payment_reversal") == "succeeded":
        receipt = view.value("payment_reversal")
        result |= {"outcome": "refunded", "refund_id": receipt["refund_id"], "amount_cents": receipt["amount_cents"]}
    else:
        result |= {"outcome": "denied", "reason": verdict["reason"]}
    return _finish(f"done: {result['outcome']}", result)


def answer_questions(request: dict[str, Any]) -> dict[str, Any]:
    """The FAQ agent's model: one search per question in the message, then an answer from what it found."""
    first = next(user_texts(request), "")
    blocks = dict(_DATA_BLOCK.findall(first))
    message = html.unescape(blocks.get("message", ""))
    questions = [q.strip() for q in _QUESTION.findall(message)] or [message.strip()]
    results = [(status, found) for name, status, found in tool_results(request) if name == "search_articles"]
    if len(results) < len(questions):
        query = questions[len(results)][:200]
        search = tool_use("search_articles", {"query": query}, f"search-{len(results) + 1}")
        return response(text(f"Looking up: {query}"), search)
    searched = [json.loads(found) for status, found in results if status == "success"]
    used = [found[0] for found in searched if found]
    answer = " ".join(article["body"].split(". ")[0] + "." for article in used) or "I found no article on this."
    result = {
        "answer": answer[:MAX_ANSWER],
        "article_ids": sorted({article["article_id"] for article in used}),
        "answered": bool(used),
    }
    return response(tool_use("submit_result", result, "result-1"))
