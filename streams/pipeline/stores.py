"""The stores a pipeline can keep its states in besides a Faust table (`streams.state`).

Why it exists: a stateless pipeline (alerts, TSDB) needs a store that keeps nothing, and the
runtime's unit tests, the end-to-end fuzz and the runtime benchmark need one that keeps states in
a dict, with the partition each was stored from, as `KeyedState` does. One of each, here.
"""

from __future__ import annotations

from typing import Any

from streams.pipeline.domain import State


class NoState:
    """The store of a stateless pipeline (alerts, TSDB): nothing kept, nothing owned."""

    def get(self, key: str) -> None:
        return None

    def put(self, key: str, value: dict[str, Any], partition: int) -> None:
        raise AssertionError("a stateless pipeline stored a state")

    def delete(self, key: str, partition: int) -> None:
        raise AssertionError("a stateless pipeline deleted a state")

    def owned_items(self) -> list[tuple[str, dict[str, Any]]]:
        return []

    def partition_of(self, state: dict[str, Any]) -> int:
        raise AssertionError("a stateless pipeline has no state")

    def generation(self) -> int:
        return 0


class DictStore:
    """States in a dict (all owned), each with the partition it was stored from."""

    def __init__(self) -> None:
        self.data: dict[str, State] = {}

    def get(self, key: str) -> State | None:
        return self.data.get(key)

    def put(self, key: str, value: State, partition: int) -> None:
        self.data[key] = {**value, "_partition": partition}

    def delete(self, key: str, partition: int) -> None:
        self.data.pop(key, None)

    def owned_items(self) -> list[tuple[str, State]]:
        return list(self.data.items())

    def partition_of(self, state: State) -> int:
        partition: int = state["_partition"]
        return partition

    def generation(self) -> int:
        """Every state is owned, always: the assignment never changes."""
        return 0
