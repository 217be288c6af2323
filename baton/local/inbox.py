"""The offline approval inbox: how `baton approve RUN_ID` reaches a run that `baton run` is executing.

An offline run lives inside its `baton run` process (moto is in memory), so another process cannot call its API.
While a run waits for people, `baton run` lists what it waits for in `.baton/approvals/<run_id>/pending.json` and
watches that folder; `baton approve` drops a request file there and waits for its answer file. `baton run` takes
each request through the run's own API path (POST /runs/{run_id}/approvals) as the workflow's declared approver,
so every check applies (one decision per approval, before it expires), and answers with the status and body.

The folder is the current directory's, like `.baton/logs`: only someone who can write there can decide, which is
the user running both commands. A deployed run is decided through its API instead (`baton approve --stack`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton.approvals import Approval, message_of

INBOX_DIR = Path(".baton") / "approvals"
PENDING = "pending.json"
_REQUEST = "request-"
_ANSWER = ".answer.json"


class InboxError(Exception):
    """No offline run waits here, or it did not answer in time."""


def _folder(run_id: str, root: Path) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise InboxError(f"{run_id!r} is not a run id")
    return root / run_id


class Inbox:
    """The `baton run` side: lists the pending approvals, takes the requests, answers them."""

    def __init__(self, run_id: str, root: Path = INBOX_DIR) -> None:
        self.run_id = run_id
        self.folder = _folder(run_id, root)

    def list_pending(self, approvals: list[Approval]) -> None:
        if not approvals:
            (self.folder / PENDING).unlink(missing_ok=True)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{PENDING}.{os.getpid()}"
        partial.write_text(json.dumps([message_of(a) for a in approvals], indent=2))
        partial.replace(self.folder / PENDING)

    def serve(self, decide: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]) -> None:
        """Answer every request waiting in the folder with what `decide` (the API's path) says."""
        if not self.folder.is_dir():
            return
        for request in sorted(self.folder.glob(f"{_REQUEST}*.json")):
            if request.name.endswith(_ANSWER):
                continue
            try:
                body = json.loads(request.read_text())
                status, answer = decide(body) if isinstance(body, dict) else (400, {"error": "not a JSON object"})
            except (OSError, ValueError) as error:
                status, answer = 400, {"error": f"unreadable request: {error}"}
            partial = request.with_name(f".{request.stem}{_ANSWER}")
            partial.write_text(json.dumps({"status": status, "body": answer}))
            partial.replace(request.with_name(request.stem + _ANSWER))
            request.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def pending(run_id: str, root: Path = INBOX_DIR) -> list[dict[str, Any]]:
    path = _folder(run_id, root) / PENDING
    try:
        listed = json.loads(path.read_text())
    except (OSError, ValueError):
        raise InboxError(
            f"no offline run {run_id} waits for approval here: an offline run lives in its `baton run` process, "
            "so run `baton approve` in the same folder while it waits (or use --stack for a deployed run)"
        ) from None
    return [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []


def ask(run_id: str, body: dict[str, Any], root: Path = INBOX_DIR, timeout_seconds: float = 30) -> tuple[int, Any]:
    """The `baton approve` side: leave a request for the waiting `baton run`, wait for its answer."""
    pending(run_id, root)  # refuse at once when no run waits
    folder = _folder(run_id, root)
    name = f"{_REQUEST}{time.time_ns()}-{secrets.token_hex(4)}"
    partial = folder / f".{name}.json"
    partial.write_text(json.dumps(body))
    partial.replace(folder / f"{name}.json")
    answer = folder / f"{name}{_ANSWER}"
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if answer.is_file():
            result = json.loads(answer.read_text())
            answer.unlink(missing_ok=True)
            return int(result["status"]), result["body"]
        time.sleep(0.05)
    (folder / f"{name}.json").unlink(missing_ok=True)
    raise InboxError(f"the `baton run` of {run_id} did not answer within {timeout_seconds:g} s")
