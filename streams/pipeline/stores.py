"""The stores a pipeline can keep its states in besides a Faust table (`streams.state`).

Why it exists: a stateless pipeline (alerts, TSDB) needs a store that keeps nothing, and the
runtime's unit tests, the end-to-end fuzz and the runtime benchmark need one that keeps states in
a dict, with the partition each was stored from, as `KeyedState` does. One of each, here.
"""

from __future__ import annotations

from typing import Any

from streams.domain.windows import Aggregate, WindowUpdate
from streams.pipeline.domain import State


class NoState:
    """The store of a stateless pipeline (alerts, TSDB): nothing kept, nothing owned."""

    def get(self, key: str) -> None:
        return None

    def put(self, key: str, value: dict[str, Any], partition: int) -> None:
        raise AssertionError("a stateless pipeline stored a state")

    def delete(self, key: str, partition: int) -> None:
        raise AssertionError("a stateless pipeline deleted a state")

    def put_windows(self, key: str, windows: WindowUpdate, partition: int) -> None:
        raise AssertionError("a stateless pipeline stored window rollups")

    async def flush(self) -> None:
        return None

    def owned_items(self) -> list[tuple[str, dict[str, Any]]]:
        return []

    def partition_of(self, state: dict[str, Any]) -> int:
        raise AssertionError("a stateless pipeline has no state")

    def generation(self) -> int:
        return 0

    def in_contact(self) -> bool:
        return True


class DictStore:
    """States in a dict (all owned), each with the partition it was stored from, and panes."""

    def __init__(self) -> None:
        self.data: dict[str, State] = {}
        self.panes: dict[tuple[str, int], Aggregate] = {}

    def get(self, key: str) -> State | None:
        return self.data.get(key)

    def put(self, key: str, value: State, partition: int) -> None:
        # As `KeyedState.put` does: the state is the fold's own, noted in place.
        value["_partition"] = partition
        self.data[key] = value

    def delete(self, key: str, partition: int) -> None:
        self.data.pop(key, None)
        for pane_key in [k for k in self.panes if k[0] == key]:
            del self.panes[pane_key]

    def put_windows(self, key: str, windows: WindowUpdate, partition: int) -> None:
        for pane in windows.expired:
            self.panes.pop((key, pane), None)
        for pane, agg in windows.panes.items():
            current = self.panes.get((key, pane))
            self.panes[key, pane] = agg if current is None else windows.merge(current, agg)

    async def flush(self) -> None:
        """A dict holds what it was given at once."""
        return None

    def owned_items(self) -> list[tuple[str, State]]:
        return list(self.data.items())

    def partition_of(self, state: State) -> int:
        partition: int = state["_partition"]
        return partition

    def generation(self) -> int:
        """Every state is owned, always: the assignment never changes."""
        return 0

    def in_contact(self) -> bool:
        return True
