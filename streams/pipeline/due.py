"""When each state is next due for its domain's sweep, so that a sweep costs what is due.

Why it exists: a sweep that looked at every state of the table every second cost the table's size
each tick: with 50,000 nodes a restarted worker spent most of its CPU decoding states nothing had
happened to, and its views stopped answering. A domain says when its `sweep` may first change a
state (`Domain.sweep_due_us`); the runtime keeps those times here and sweeps only the keys whose
time has come.

A heap with lazy deletion: each key has at most one live entry, the earliest time queued for it;
a key whose due time moved later is pushed again when its entry comes up. The index is rebuilt
from the table whenever the worker's assignment changes (`Pipeline.sweep`), since recovery and
takeovers change the table without passing the runtime's store step.
"""

from __future__ import annotations

import heapq


class DueIndex:
    """Due times (epoch µs) of the owned keys, and the keys whose time has come."""

    def __init__(self) -> None:
        self._due: dict[str, int] = {}
        self._queued: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        self.generation: int | None = None
        """The store's assignment generation the index was built for (None: never built)."""

    def __len__(self) -> int:
        return len(self._due)

    def clear(self) -> None:
        self._due.clear()
        self._queued.clear()
        self._heap.clear()

    def schedule(self, key: str, due_us: int | None) -> None:
        """Sweep `key` once `due_us` has come; None: never, until its state changes."""
        if due_us is None:
            self._due.pop(key, None)
            return
        self._due[key] = due_us
        queued = self._queued.get(key)
        if queued is None or due_us < queued:
            self._queued[key] = due_us
            heapq.heappush(self._heap, (due_us, key))

    def forget(self, key: str) -> None:
        self._due.pop(key, None)

    def pop_due(self, now_us: int) -> list[str]:
        """The keys due at `now_us`, taken out of the index (the sweep schedules them again)."""
        due_keys = []
        heap = self._heap
        while heap and heap[0][0] <= now_us:
            queued, key = heapq.heappop(heap)
            if self._queued.get(key) != queued:
                continue  # an earlier entry of this key has replaced this one
            del self._queued[key]
            due = self._due.get(key)
            if due is None:
                continue
            if due > now_us:
                self._queued[key] = due
                heapq.heappush(heap, (due, key))
                continue
            del self._due[key]
            due_keys.append(key)
        return due_keys
