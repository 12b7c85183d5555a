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
A write sets the value at once and keeps its changelog record pending (`streams.kafka_batches`,
one aiokafka batch per partition instead of Faust's per-record `send_changelog`); `flush` sends
the pending records and returns once Kafka acknowledged them (the runtime's step 7). The records
are encoded as Faust's `send_changelog` encodes them (raw or JSON keys, the orjson codec), so
Faust's recovery and `streams.bulk_recovery` read them back as before.

`WindowedState` does the same for a key's event-time window rollups (`streams.domain.windows`):
a Faust tumbling windowed table of 1-minute panes keyed `(key, (start, end))` as Faust keys
windowed tables, whose changelog records go to the key's own partition. Expiry is on the key's
event-time watermark and writes tombstones (`put`); Faust's own cleanup is not fed (it expires on
the wall clock and forgets without a tombstone, so a restart would bring expired panes back).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import faust
from faust.serializers import codecs
from faust.types import TP

from schemas import codec
from streams import metrics
from streams.app import app
from streams.domain import windows as w
from streams.faust_tuning import kafka_producer, out_of_contact
from streams.kafka_batches import KafkaBatches

PARTITION_FIELD = "_partition"

State = dict[str, Any]


def _serialized(table: Any, key_serializer: str) -> None:
    # faust's Table takes no serializer arguments (it derives "json" from the types); the
    # store and changelog topic are created lazily from these attributes, so set them first.
    table.key_serializer = key_serializer
    table.value_serializer = "orjson"
    # app.Table() already built the changelog topic with "json"; rebuild it with the above.
    table.changelog_topic = table._new_changelog_topic()


def _changelog_batches() -> KafkaBatches:
    return KafkaBatches(lambda: kafka_producer(app))


class WindowedState:
    """A key's 1-minute rollup panes in a Faust windowed table, written with explicit partition."""

    def __init__(self, name: str, source: faust.TopicT, rollup: w.Rollup, help: str) -> None:
        self.name = name
        self.rollup = rollup
        self.table = app.Table(
            name, default=None, value_type=None, partitions=source.partitions, help=help,
        ).tumbling(w.PANE_S, expires=timedelta(seconds=w.PANE_KEEP_S)).table
        # JSON keys: a windowed key is a (key, (start, end)) tuple; recovery turns the JSON
        # lists back into tuples (faust's `Collection._to_key`).
        _serialized(self.table, "json")
        window = self.table.window
        assert window is not None
        self.window = window
        self.changelog = _changelog_batches()
        self.changelog_topic: str = self.table.changelog_topic.get_topic_name()

    def _send(self, partition: int, windowed: tuple[str, tuple[float, float]],
              value: w.Aggregate | None) -> None:
        self.changelog.add(self.changelog_topic, partition, codecs.dumps("json", windowed),
                           None if value is None else codec.dumps(value))

    def _key(self, key: str, pane: int) -> tuple[str, tuple[float, float]]:
        return key, self.window.current(pane)

    def put(self, key: str, update: w.WindowUpdate, partition: int) -> None:
        """Merge the batch's panes into the stored ones and tombstone the expired ones."""
        data = self.table.data
        for pane in update.expired:
            windowed = self._key(key, pane)
            if data.pop(windowed, None) is not None:
                self._send(partition, windowed, None)
        for pane, agg in update.panes.items():
            windowed = self._key(key, pane)
            current = data.get(windowed)
            value = agg if current is None else update.merge(current, agg)
            data[windowed] = value
            self._send(partition, windowed, value)
        if update.late:
            metrics.WINDOW_LATE_EVENTS.labels(self.name).inc(update.late)

    def delete(self, key: str, watermark_us: int | None, partition: int) -> None:
        """Tombstone every pane the key may hold (it leaves the table)."""
        for pane in w.held_panes(watermark_us):
            windowed = self._key(key, pane)
            if self.table.data.pop(windowed, None) is not None:
                self._send(partition, windowed, None)

    def panes(self, key: str, watermark_us: int | None) -> dict[int, w.Aggregate]:
        """The key's held panes: pane start -> aggregate."""
        found = {}
        for pane in w.held_panes(watermark_us):
            agg = self.table.data.get(self._key(key, pane))
            if agg is not None:
                found[pane] = agg
        return found

    def view(self, key: str, state: State) -> dict[str, Any]:
        """The rollup views' `windows` and `late_dropped` for a key whose state is `state`."""
        watermark = w.watermark_of(state)
        return w.shown(self.rollup, self.panes(key, watermark), watermark,
                       w.late_dropped_of(state))


class KeyedState:
    """A changelog-backed table of `str -> dict` written with an explicit partition."""

    def __init__(self, name: str, source: faust.TopicT, help: str,
                 windows: WindowedState | None = None) -> None:
        self.source = source
        self.windows = windows
        self.table = app.Table(
            name,
            default=None,
            key_type=str,
            # None, not dict: faust would rebuild restored values with `dict.from_data`.
            value_type=None,
            partitions=source.partitions,
            help=help,
        )
        # Raw keys keep the changelog co-partitioned with the source topic for table_route.
        _serialized(self.table, "raw")
        self.changelog = _changelog_batches()
        self.changelog_topic: str = self.table.changelog_topic.get_topic_name()

    def get(self, key: str) -> State | None:
        value: State | None = self.table.data.get(key)
        return value

    def put(self, key: str, value: State, partition: int) -> None:
        value[PARTITION_FIELD] = partition
        self.table.data[key] = value
        self.changelog.add(self.changelog_topic, partition, key.encode(), codec.dumps(value))

    def delete(self, key: str, partition: int) -> None:
        """Forget the key here and tombstone it in the changelog (recovery drops it too), and
        its window rollups."""
        before = self.table.data.pop(key, None)
        self.changelog.add(self.changelog_topic, partition, key.encode(), None)
        if self.windows is not None:
            self.windows.delete(key, w.watermark_of(before), partition)

    def put_windows(self, key: str, windows: w.WindowUpdate, partition: int) -> None:
        if self.windows is None:
            raise AssertionError(f"table {self.table.name} keeps no window rollups")
        self.windows.put(key, windows, partition)

    async def flush(self) -> None:
        """Send the changelog records of every write so far, the window rollups' first (a
        state never refers to panes missing from the changelog); return once Kafka
        acknowledged them all."""
        if self.windows is not None:
            await self.windows.changelog.send()
        await self.changelog.send()

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

    @staticmethod
    def in_contact() -> bool:
        """False once the consumer group went unheard for half a session (`Pipeline.sweep`)."""
        return not out_of_contact(app)

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
