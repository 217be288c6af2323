"""What one offline run asks of AWS: counted from the functions' own AWS calls and the execution history.

`Meter` is handed to `LocalEngine(on_call=meter.on_call, wrap_handler=meter.wrap)`; after a run,
`meter.run_usage(engine, run_id)` returns the `Usage` of that run (runs must be measured one at a time).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from baton.local.engine import AwsCallDetail, LocalEngine
from baton.local.moto_patches import Handler

KB = 1024
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's documented size of one attribute value, in bytes (approximate for numbers)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return (len(str(raw).lstrip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in raw.items())
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in raw)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


@dataclass
class Usage:
    transitions: int = 0
    lambda_invocations: int = 0
    orchestrator_invocations: int = 0
    agent_invocations: int = 0
    agent_hops: int = 0  # tasks delegated (Map iterations)
    lambda_ms: float = 0.0
    lambda_gb_seconds: float = 0.0
    ddb_write_requests: int = 0
    ddb_items_written: int = 0
    ddb_bytes_written: int = 0
    ddb_wru: int = 0
    ddb_read_requests: int = 0
    ddb_bytes_read: int = 0
    ddb_rru: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)  # "service:Operation" -> count
    max_payload_bytes: int = 0
    history_events: int = 0
    execution_ms: float = 0.0  # first to last history event: what an Express execution is billed for

    @property
    def secretsmanager_calls(self) -> int:
        return sum(n for k, n in self.calls.items() if k.startswith("secretsmanager:"))

    @property
    def commits(self) -> int:
        """The orchestrator's commits: each signs its audit head once."""
        return self.calls["kms:Sign"]

    @property
    def sts_calls(self) -> int:
        return sum(n for k, n in self.calls.items() if k.startswith("sts:"))

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "calls"}
        out["calls"] = dict(sorted(self.calls.items()))
        out["lambda_ms"] = round(self.lambda_ms, 1)
        out["lambda_gb_seconds"] = round(self.lambda_gb_seconds, 4)
        out["ddb_rru"] = round(self.ddb_rru, 1)
        return out


class Meter:
    """Collects AWS calls and handler durations; thread-safe; one measured run at a time."""

    def __init__(self, memory_mb: dict[str, int] | None = None, default_memory_mb: int = 256) -> None:
        self._lock = threading.Lock()
        self._calls: list[AwsCallDetail] = []
        self._durations: list[tuple[str, float]] = []
        self.memory_mb = memory_mb or {}
        self._default_memory = default_memory_mb

    def on_call(self, detail: AwsCallDetail) -> None:
        with self._lock:
            self._calls.append(detail)

    def wrap(self, function: str, handler: Handler) -> Handler:
        def timed(event: dict[str, Any]) -> Any:
            started = time.perf_counter()
            try:
                return handler(event)
            finally:
                with self._lock:
                    self._durations.append((function, (time.perf_counter() - started) * 1000))

        return timed

    def mark(self) -> tuple[int, int]:
        with self._lock:
            return len(self._calls), len(self._durations)

    def usage_since(self, mark: tuple[int, int], engine: LocalEngine, run_id: str, workflow: str) -> Usage:
        with self._lock:
            calls = self._calls[mark[0] :]
            durations = self._durations[mark[1] :]
        usage = Usage()
        for detail in calls:
            usage.calls[f"{detail.service}:{detail.operation}"] += 1
            if detail.service == "dynamodb":
                _count_dynamodb(usage, detail.operation, detail.params, detail.response)
        for function, ms in durations:
            billed = math.ceil(ms)
            usage.lambda_ms += billed
            usage.lambda_gb_seconds += billed / 1000 * self.memory_mb.get(function, self._default_memory) / 1024
        _count_history(usage, history(engine, workflow, run_id))
        return usage


def _count_dynamodb(usage: Usage, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
    if operation in _WRITES:
        usage.ddb_write_requests += 1
        if operation == "TransactWriteItems":
            items = [next(iter(op.values())).get("Item", {}) for op in params["TransactItems"]]
            factor = 2  # a transactional write costs two write units per KB
        elif operation == "BatchWriteItem":
            items = [
                r["PutRequest"]["Item"] for reqs in params["RequestItems"].values() for r in reqs if "PutRequest" in r
            ]
            factor = 1
        else:
            items, factor = [params.get("Item", params.get("Key", {}))], 1
        for item in items:
            size = item_size(item)
            usage.ddb_items_written += 1
            usage.ddb_bytes_written += size
            usage.ddb_wru += factor * max(1, math.ceil(size / KB))
        return
    usage.ddb_read_requests += 1
    consistent = params.get("ConsistentRead", False)
    if operation == "GetItem":
        sizes = [item_size(response.get("Item", {}))]
    elif operation in ("Query", "Scan"):
        sizes = [item_size(i) for i in response.get("Items", [])]
    else:
        sizes = [item_size(i) for items in response.get("Responses", {}).values() for i in items]
    total = sum(sizes)
    usage.ddb_bytes_read += total
    units = max(1, math.ceil(total / (4 * KB)))
    usage.ddb_rru += units if consistent else units / 2


def history(engine: LocalEngine, workflow: str, run_id: str) -> list[dict[str, Any]]:
    sfn = engine.clients.client("stepfunctions")
    arn = engine.state_machines[workflow].replace(":stateMachine:", ":execution:") + f":{run_id}"
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _count_history(usage: Usage, events: list[dict[str, Any]]) -> None:
    """State transitions as Step Functions bills them: every state entered, and every retry of a task."""
    usage.history_events = len(events)
    if events:
        usage.execution_ms = (events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds() * 1000
    entered = sum(e["type"].endswith("StateEntered") for e in events)
    task_entered = sum(e["type"] == "TaskStateEntered" for e in events)
    scheduled = [e for e in events if e["type"] == "TaskScheduled"]
    usage.transitions = entered + max(0, len(scheduled) - task_entered)
    usage.agent_hops = sum(e["type"] == "MapIterationStarted" for e in events)
    for event in scheduled:
        details = event["taskScheduledEventDetails"]
        parameters = json.loads(details["parameters"])
        if details["resourceType"] == "lambda":
            usage.lambda_invocations += 1
            if "orchestrator" in str(parameters.get("FunctionName")):
                usage.orchestrator_invocations += 1
            else:
                usage.agent_invocations += 1
        elif details["resourceType"] == "dynamodb" and details.get("resource") == "getItem":
            # the state machine reads a task's input for its agent (strongly consistent; a task item is small)
            usage.ddb_read_requests += 1
            usage.ddb_rru += 1
            usage.calls["states:dynamodb:getItem"] += 1
        elif details["resourceType"] == "dynamodb":
            # the state machine's own write: an agent's report or a caught crash, recorded in the journal
            size = item_size(parameters.get("Item", {}))
            usage.ddb_write_requests += 1
            usage.ddb_items_written += 1
            usage.ddb_bytes_written += size
            usage.ddb_wru += max(1, math.ceil(size / KB))
            usage.calls["states:dynamodb:putItem"] += 1
    for event in events:
        for details in event.values():
            if isinstance(details, dict):
                for key in ("input", "output", "parameters"):
                    value = details.get(key)
                    if isinstance(value, str):
                        usage.max_payload_bytes = max(usage.max_payload_bytes, len(value.encode()))


def measure_run(
    engine: LocalEngine, meter: Meter, workflow: str, run_input: Any, timeout: float = 600
) -> tuple[Usage, Any]:
    """One run, started as the API function starts it (its calls are metered as the function 'baton-api'); an action
    it holds for a person is approved through the API as the permissions report does (so an example that needs an
    approval ends too, its decision metered)."""
    from baton.permissions import approve_when_held

    mark = meter.mark()
    run_id = engine.start(workflow, run_input)
    record = engine.wait(run_id, timeout_seconds=timeout, on_poll=approve_when_held(engine, run_id))
    return meter.usage_since(mark, engine, run_id, workflow), record
