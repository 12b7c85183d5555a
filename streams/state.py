"""Faust tables written from batches and timers, with the partition named explicitly.

Why it exists: a Faust table picks the changelog partition of a write from the *current event*,
which is wrong when an agent processes a batch mixing partitions, and impossible in a timer (there
is no current event). `KeyedState` writes the value into the table's store and sends the changelog
record to the partition the key's events came from, which keeps the table co-partitioned with its
source topic whatever the producer's partitioner was. It also remembers each key's partition so a
timer can sweep only the partitions this worker actively owns (`owned_items`).

Values are JSON-compatible dicts (the orjson codec). Each value stores its partition under
`PARTITION_FIELD`, so the ownership filter also works for keys restored from the changelog.
Call `put` synchronously after `get` (no `await` in between): agents and timers share the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust
from faust.types import TP

from streams.app import app

PARTITION_FIELD = "_partition"

State = dict[str, Any]


class KeyedState:
    """A changelog-backed table of `str -> dict` written with an explicit partition."""

    def __init__(self, name: str, source: faust.TopicT, help: str) -> None:
        self.source = source
        self.table = app.Table(
            name,
            default=None,
            key_type=str,
            # None, not dict: faust would rebuild restored values with `dict.from_data`.
            value_type=None,
            partitions=source.partitions,
            help=help,
        )
        # faust's Table takes no serializer arguments (it derives "json" from the types); the
        # store and changelog topic are created lazily from these attributes, so set them first.
        # Raw keys keep the changelog co-partitioned with the source topic for table_route.
        self.table.key_serializer = "raw"  # type: ignore[attr-defined]
        self.table.value_serializer = "orjson"  # type: ignore[attr-defined]
        # app.Table() already built the changelog topic with "json"; rebuild it with the above.
        self.table.changelog_topic = self.table._new_changelog_topic()  # type: ignore[attr-defined]

    def get(self, key: str) -> State | None:
        value: State | None = self.table.data.get(key)
        return value

    def put(self, key: str, value: State, partition: int) -> None:
        value[PARTITION_FIELD] = partition
        self.table.data[key] = value
        self.table.send_changelog(partition, key.encode(), value)

    def delete(self, key: str, partition: int) -> None:
        """Forget the key here and tombstone it in the changelog (recovery drops it too)."""
        self.table.data.pop(key, None)
        self.table.send_changelog(partition, key.encode(), None, value_serializer="raw")

    @staticmethod
    def partition_of(value: State) -> int:
        partition: int = value[PARTITION_FIELD]
        return partition

    def __len__(self) -> int:
        return len(self.table.data)

    def items(self) -> Iterator[tuple[str, State]]:
        yield from self.table.data.items()

    @staticmethod
    def generation() -> int:
        """The consumer group's generation: it changes at every rebalance (`Pipeline.sweep`)."""
        generation: int = app.consumer_generation_id
        return generation

    def owned_partitions(self) -> set[TP]:
        """The source topic's partitions this worker is the active owner of (not standbys)."""
        topic_name = self.source.get_topic_name()
        return {tp for tp in app.assignor.assigned_actives() if tp.topic == topic_name}

    def owned_items(self) -> Iterator[tuple[str, State]]:
        """Entries of the source partitions this worker is the active owner of (not standbys)."""
        owned = {tp.partition for tp in self.owned_partitions()}
        for key, value in self.table.data.items():
            if value.get(PARTITION_FIELD) in owned:
                yield key, value
