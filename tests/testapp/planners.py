"""The test app's rule planners."""

from __future__ import annotations

from baton.models import Decision, Delegate, Fail, Finish, RunView, Task, TaskStatus


def _failed(run: RunView, key: str) -> Fail | None:
    outcome = run.latest(key)
    if outcome is not None and outcome.status is not TaskStatus.SUCCEEDED:
        return Fail(reason=f"{key} failed: {outcome.error_type}")
    return None


class RelayPlanner:
    """reader -> scorer -> notifier, each on the previous one's output."""

    def decide(self, run: RunView) -> Decision:
        for key in ("reader", "scorer", "notifier"):
            if run.latest(key) is None:
                return Delegate(tasks=[Task(agent=key)], reason=f"next: {key}")
            failed = _failed(run, key)
            if failed is not None:
                return failed
        return Finish(
            result={"item_id": run.value("item_id"), "score": run.value("scorer"), "note": run.value("notifier")}
        )


class FanoutPlanner:
    """One concurrent stage (the item and three ratings), then the score."""

    SOURCES = ("a", "b", "c")

    def decide(self, run: RunView) -> Decision:
        if run.latest("reader") is None:
            return Delegate(
                tasks=[Task(agent="reader")]
                + [Task(agent="rater", key=f"rating_{s}", params={"source": s}) for s in self.SOURCES],
                reason="read the item and its ratings at once",
            )
        if run.latest("scorer") is None:
            return Delegate(tasks=[Task(agent="scorer")], reason="score")
        ratings = {s: run.value(f"rating_{s}") for s in self.SOURCES}
        return Finish(result={"score": run.value("scorer"), "ratings": ratings})


class PayoutPlanner:
    """reader -> payer; in mode note_in_params the planner copies the caller's note into the payer's params."""

    def decide(self, run: RunView) -> Decision:
        if run.latest("reader") is None:
            return Delegate(tasks=[Task(agent="reader")])
        failed = _failed(run, "reader")
        if failed is not None:
            return failed
        payment = run.latest("payer")
        if payment is None:
            mode = str(run.value("mode"))
            params: dict[str, object] = {"mode": mode}
            if mode == "note_in_params":
                params["memo"] = run.value("note")
            return Delegate(tasks=[Task(agent="payer", params=params)])  # type: ignore[arg-type]
        if payment.status is not TaskStatus.SUCCEEDED:
            return Fail(reason=f"payout failed: {payment.error_type}")
        return Finish(result={"payment": run.value("payer")})


class SummarizePlanner:
    """The model-backed summarizer, once."""

    def decide(self, run: RunView) -> Decision:
        if run.latest("summarizer") is None:
            return Delegate(tasks=[Task(agent="summarizer")], reason="summarize the item")
        failed = _failed(run, "summarizer")
        if failed is not None:
            return failed
        return Finish(result={"summary": run.value("summarizer")})


class AssistPlanner:
    """The model-backed assistant, once; the caller's note (untrusted) goes to it as a param, when there is one."""

    def decide(self, run: RunView) -> Decision:
        if run.latest("assistant") is None:
            note = run.describe("note")  # its size only: reading an empty note would taint nothing, but why read it
            params = {"note": run.value("note")} if note is not None and note.bytes > len('""') else {}
            return Delegate(tasks=[Task(agent="assistant", params=params)], reason="answer the caller")
        failed = _failed(run, "assistant")
        if failed is not None:
            return failed
        return Finish(result={"answer": run.value("assistant")})
