"""Reads a partition again when records wait on it that Faust will never deliver.

Why it exists: Faust loses track of fetched records at a rebalance in more than one way, and each
leaves records in Kafka past the committed offset that nobody will process until the next
rebalance or restart. Its consumer drops every fetched record below its read offset
(`Consumer._read_offset`), which a fetch straddling the rebalance, or a record abandoned by a flow
suspended mid-delivery, can move past records never delivered; and `Consumer.getmany` discards
the rest of a fetch when the generation changes or the flow stops, and skips the records of a
partition not active at that moment, after aiokafka's position already moved past them. Faust
undoes that with one seek to the committed offsets at the rebalance; a fetch answered after that
seek is lost. The commit guard (`faust_tuning.patch_commit_only_from_the_committed_head`) keeps
such records from being committed over and reads a hole at the head again when later records
were done; when they are a partition's tail, nothing after them is done and nothing shows the
hole (the three-worker fault test's keys that stayed behind, docs/reliability.md).

The watch looks at each assigned partition of an acked topic every `CHECK_SECONDS`: records wait
(the end offset is past the committed offset) and none of the partition is anywhere in the
worker: not in a stream's buffer, not taken by a stream and unacked, not acked and uncommitted.
While Faust's delivery runs freely (no stream buffer under pressure, the producer's buffer not
over its limit, no rebalance, recovery, stopped flow or lost group contact) such records arrive
within a fetch wait. Once a partition has looked so for `STALL_SECONDS` on the same committed
offset, the consumer seeks it back to its committed offset, which also resets Faust's read offset
there (`seek_wait`): the records are delivered again (the sinks are idempotent).

What it must not do: seek a partition whose records are only slow to come (a fetch under way, a
sink retrying, a buffer full), or one without a committed offset (the reset policy's seek covers
those, `faust_tuning.patch_seek_uncommitted_partitions`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP

from streams import metrics
from streams.faust_tuning import buffered_events, out_of_contact

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
"""How often the watch looks at the assigned partitions."""

STALL_SECONDS = 10.0
"""How long a partition must look stalled, on the same committed offset, before it is read again
(several commit intervals and fetch waits: a healthy partition never looks stalled that long)."""


@dataclass(frozen=True, slots=True)
class PartitionView:
    """What Faust's consumer knows of one partition at one look (offsets as Kafka counts them)."""

    committed: int | None
    """The next offset to read, as last committed; None before the group committed any."""
    end: int | None
    """The partition's end offset (highwater) as of the consumer's last fetch."""
    busy: bool
    """Records of the partition are in the worker: buffered for a stream, taken by one and
    unacked, or acked and not committed yet."""
    read: int | None = None
    """The offset Faust last delivered or sought to (logged; records below it are dropped)."""

    def stalled(self) -> bool:
        """Records wait that are nowhere in the worker."""
        if self.committed is None or self.end is None or self.busy:
            return False
        return self.end > self.committed


@dataclass(slots=True)
class _Stall:
    """One partition's stall: on which committed and end offsets, since when, re-read or not."""

    committed: int
    end: int
    since: float
    reread: bool = False


class StallWatch:
    """Which partitions have looked stalled, on which offsets, since when.

    A partition is read again once it looked stalled for `stall_s`; if it still looks so as long
    after that re-read, on the same offsets, what waits is offsets no fetch delivers (another
    producer's transaction marker at the end) and it is left alone until its offsets move.
    """

    def __init__(self, stall_s: float = STALL_SECONDS) -> None:
        self._stall_s = stall_s
        self._stalls: dict[TP, _Stall] = {}

    @property
    def stall_s(self) -> float:
        """How long a partition must look stalled before it is read again."""
        return self._stall_s

    def forget(self) -> None:
        """Start every partition's wait over (delivery was held back meanwhile)."""
        self._stalls.clear()

    def due(self, views: Mapping[TP, PartitionView], now: float) -> dict[TP, int]:
        """Partitions to read again, each from its committed offset."""
        due: dict[TP, int] = {}
        for tp in set(self._stalls) - set(views):
            del self._stalls[tp]
        for tp, view in views.items():
            if not view.stalled():
                self._stalls.pop(tp, None)
                continue
            assert view.committed is not None and view.end is not None
            stall = self._stalls.get(tp)
            if stall is None or (stall.committed, stall.end) != (view.committed, view.end):
                self._stalls[tp] = _Stall(view.committed, view.end, now)
                continue
            if now - stall.since < self._stall_s:
                continue
            if stall.reread:
                log.warning("consumer.stall_accepted tp=%s offsets=%d-%d (not delivered after a "
                            "re-read: another producer's transaction marker)", tp,
                            stall.committed, stall.end - 1)
                stall.since = float("inf")  # left alone until its offsets move
                continue
            due[tp] = stall.committed
            stall.since, stall.reread = now, True
        return due


def partition_views(app: faust.App) -> dict[TP, PartitionView]:
    """The stream partitions (acked topics) this worker's consumer is assigned, as Faust sees them.

    Reads the consumer's own bookkeeping (`_committed_offset`, `_read_offset`, `_acked`,
    `_unacked_messages`) and the streams' buffers: `tests/unit/streams/test_stalled_partitions.py`
    pins those upstream.
    """
    consumer: Any = app.consumer
    held = {message.tp for message in list(consumer._unacked_messages)}
    held.update(tp for tp, offsets in consumer._acked.items() if offsets)
    held.update(event.message.tp for event in buffered_events(app))
    views = {}
    for tp in consumer.assignment():
        if not app.topics.acks_enabled_for(tp.topic):
            continue
        views[tp] = PartitionView(
            committed=consumer._committed_offset.get(tp),
            end=consumer.highwater(tp),
            busy=tp in held,
            read=consumer._read_offset.get(tp),
        )
    return views


def watching(app: faust.App) -> bool:
    """Faust delivers freely: records that wait would arrive within a fetch wait."""
    consumer: Any = app.consumer
    producer_buffer: Any = app.producer.buffer
    return not (app.rebalancing or app.in_recovery or not consumer.flow_active
                or consumer._buffered_partitions
                or producer_buffer.size > producer_buffer.max_messages
                or out_of_contact(app))


async def check(app: faust.App, watch: StallWatch) -> None:
    """One look: read every partition again that has stalled long enough; never raises."""
    try:
        if not watching(app):
            watch.forget()  # a stall counts only while delivery ran freely all along
            return
        views = partition_views(app)
        due = watch.due(views, time.monotonic())
        for tp, committed in due.items():
            log.warning("consumer.stalled_reread tp=%s committed=%d read=%s end=%s "
                        "stalled_s>=%.0f", tp, committed, views[tp].read, views[tp].end,
                        watch.stall_s)
            metrics.PARTITION_REREADS.labels(tp.topic, "stalled").inc()
            await app.consumer.seek_wait({tp: committed})
    except Exception:
        log.exception("consumer.stalled_check_failed")


def watch(app: faust.App, stall_s: float = STALL_SECONDS) -> None:
    """Register the watch as a timer of `app` (each worker watches its own assignment)."""
    stalls = StallWatch(stall_s)

    async def watch_stalled_partitions() -> None:
        await check(app, stalls)

    app.timer(CHECK_SECONDS, name="streams.stalled_partitions.watch")(watch_stalled_partitions)
