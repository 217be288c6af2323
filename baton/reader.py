"""What a planner reads of a run, read when it asks: the orchestrator's RunReader over the state store.

A stage reads the run record, the finished stage's tasks and journal, and then only what the planner looks at:
one context value (`CTX#<key>`), the latest outcome of one key (`LATEST#<key>`, written with each step), or,
when a planner asks for the whole history, a paged read of every step. So the bytes a stage reads do not grow
with the run. What this Plan has just folded (new values, new outcomes) is overlaid on what is stored.

Runs stored before schema version 3 have no `LATEST#` items: their latest outcomes come from the history.
"""

from __future__ import annotations

from baton.models import ContextEntry, TaskOutcome
from baton.store import StateStore

# the first schema version whose runs keep a LATEST#<key> item per output key
LATEST_ITEMS_SINCE = 3


class StoreReader:
    def __init__(
        self,
        store: StateStore,
        run_id: str,
        schema_version: int,
        new_context: dict[str, ContextEntry],
        new_outcomes: list[TaskOutcome],
        stored: bool = True,
    ) -> None:
        """`stored=False`: the run is being created by this Plan, so nothing of it is stored yet to read."""
        self._stored = stored
        self._store = store
        self._run_id = run_id
        self._latest_items = schema_version >= LATEST_ITEMS_SINCE
        self._new_context = new_context
        self._new_outcomes = new_outcomes
        self._entries: dict[str, ContextEntry | None] = {}
        self._latest: dict[str, TaskOutcome | None] = {}
        self._history: list[TaskOutcome] | None = None

    def keys(self) -> list[str]:
        stored = self._store.load_context_keys(self._run_id) if self._stored else []
        return sorted(set(stored) | set(self._new_context))

    def entry(self, key: str) -> ContextEntry | None:
        if key in self._new_context or not self._stored:
            return self._new_context.get(key)
        if key not in self._entries:
            self._entries[key] = self._store.load_context_entry(self._run_id, key)
        return self._entries[key]

    def latest(self, key: str) -> TaskOutcome | None:
        new = next((o for o in reversed(self._new_outcomes) if o.key == key), None)
        if new is not None or not self._stored:
            return new
        if not self._latest_items:
            return next((o for o in reversed(self.outcomes()) if o.key == key), None)
        if key not in self._latest:
            self._latest[key] = self._store.load_latest(self._run_id, key)
        return self._latest[key]

    def outcomes(self) -> list[TaskOutcome]:
        if self._history is None:
            stored = self._store.load_history(self._run_id) if self._stored else []
            self._history = stored + list(self._new_outcomes)
        return list(self._history)
