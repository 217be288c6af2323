"""Bench-only (runs in .venv-bench): bytes LangGraph's checkpointer persists per step on the same loop.

The graph mirrors benchmarks/synthetic.py: one node runs `steps` times, each time producing a ~100-byte
output. Two state shapes: `overwrite` (the output replaces the previous one, like Baton's reused context
key) and `append` (outputs accumulate in a list with an add reducer, the usual agent "messages" shape).
Persisted bytes: every byte column of the SqliteSaver tables (checkpoints and writes) after the run.
Prints one JSON document.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver  # type: ignore[import-not-found]
from langgraph.graph import END, START, StateGraph  # type: ignore[import-not-found]

PAYLOAD = "x" * 100


class Overwrite(TypedDict):
    steps: int
    step: int
    output: str


class Append(TypedDict):
    steps: int
    step: int
    outputs: Annotated[list[str], operator.add]


def _graph(shape: str) -> Any:
    state: Any = Overwrite if shape == "overwrite" else Append

    def step(s: dict[str, Any]) -> dict[str, Any]:
        update: dict[str, Any] = {"step": s["step"] + 1}
        if shape == "overwrite":
            update["output"] = PAYLOAD
        else:
            update["outputs"] = [PAYLOAD]
        return update

    def route(s: dict[str, Any]) -> str:
        return END if s["step"] >= s["steps"] else "step"

    graph = StateGraph(state)
    graph.add_node("step", step)
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", route)
    return graph


def persisted_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        total = 0
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                (size,) = conn.execute(f"SELECT COALESCE(SUM(LENGTH({column})), 0) FROM {table}").fetchone()  # noqa: S608
                total += int(size)
        return total


def main() -> None:
    lengths = [int(a) for a in sys.argv[1:]] or [1, 10, 100, 1000]
    out: dict[str, Any] = {}
    for shape in ("overwrite", "append"):
        out[shape] = {}
        for steps in lengths:
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "checkpoints.sqlite"
                with SqliteSaver.from_conn_string(str(db)) as saver:
                    app = _graph(shape).compile(checkpointer=saver)
                    initial: dict[str, Any] = {"steps": steps, "step": 0}
                    initial[("output" if shape == "overwrite" else "outputs")] = "" if shape == "overwrite" else []
                    config = {"configurable": {"thread_id": "t"}, "recursion_limit": steps * 2 + 10}
                    app.invoke(initial, config)
                total = persisted_bytes(db)
            out[shape][str(steps)] = {"bytes_per_step": round(total / steps), "bytes_total": total}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
