"""Reads a partition again when Faust holds records past its committed offset it will never deliver.

Why it exists: Faust's consumer drops every fetched record below its read offset (the last offset
it delivered, `Consumer._read_offset`), and that offset can pass records nobody processed: a
fetch that straddles a rebalance is still delivered after the seek back to the committed offsets,
and a record abandoned by a flow suspended mid-delivery (`wait_first(callback, suspend_flow)`)
moves the read offset all the same. The commit guard
(`faust_tuning.patch_commit_only_from_the_committed_head`) keeps such records from being committed
over and reads a hole at the head again, but only when later records were done; when the dropped
records are a partition's tail, nothing is done after them, so nothing shows the hole: the
partition stalls, with its records in Kafka, until the next rebalance or restart (the
three-worker fault test's key that stayed 8 rounds behind, docs/reliability.md).

The watch looks at each assigned partition of an acked topic every `CHECK_SECONDS`: records
wait (the end offset is past the committed offset) while Faust has read up to or past the
committed offset and nothing of the partition is in flight (delivered, unacked) or acked and not
yet committed. Those records will not come: Faust delivers a partition's records in order, so the
last one delivered is either still in flight, or acked, or committed (then the committed offset
is past it). Once that has held, on the same committed offset, for `STALL_SECONDS`, the consumer
seeks the partition back to its committed offset, which also resets the read offset there
(`seek_wait`): the records are delivered again (the sinks are idempotent). It never looks while
the group rebalances, tables recover, the flow is stopped or the group is out of contact.

What it must not do: seek a partition whose records are only slow to come (a fetch under way, a
sink retrying: those are in flight), or one without a committed offset (the reset policy's seek
covers those, `faust_tuning.patch_seek_uncommitted_partitions`).
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
from streams.faust_tuning import out_of_contact

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
    read: int | None
    """The offset Faust last delivered (or sought to); records below it are dropped when fetched."""
    end: int | None
    """The partition's end offset (highwater) as of the consumer's last fetch."""
    busy: bool
    """Records of the partition are in flight (delivered, unacked) or acked and not committed."""

    def stalled(self) -> bool:
        """Records wait that Faust has read past and will not deliver."""
        if self.committed is None or self.read is None or self.end is None or self.busy:
            return False
        return self.end > self.committed and self.read >= self.committed


class StallWatch:
    """Which partitions have looked stalled, on which committed offset, since when."""

    def __init__(self, stall_s: float = STALL_SECONDS) -> None:
        self._stall_s = stall_s
        self._since: dict[TP, tuple[int, float]] = {}

    @property
    def stall_s(self) -> float:
        """How long a partition must look stalled before it is read again."""
        return self._stall_s

    def due(self, views: Mapping[TP, PartitionView], now: float) -> dict[TP, int]:
        """Partitions to read again, each from its committed offset; each look restarts its wait."""
        due: dict[TP, int] = {}
        for tp in set(self._since) - set(views):
            del self._since[tp]
        for tp, view in views.items():
            if not view.stalled():
                self._since.pop(tp, None)
                continue
            assert view.committed is not None
            committed, since = self._since.get(tp, (view.committed, now))
            if committed != view.committed:
                committed, since = view.committed, now
            if now - since >= self._stall_s:
                due[tp] = committed
                since = now  # if the re-read does not take, the next one after as long again
            self._since[tp] = (committed, since)
        return due


def partition_views(app: faust.App) -> dict[TP, PartitionView]:
    """The stream partitions (acked topics) this worker's consumer is assigned, as Faust sees them.

    Reads the consumer's own bookkeeping (`_committed_offset`, `_read_offset`, `_acked`,
    `_unacked_messages`): `tests/unit/streams/test_stalled_partitions.py` pins those upstream.
    """
    consumer: Any = app.consumer
    in_flight = {message.tp for message in list(consumer._unacked_messages)}
    acked = {tp for tp, offsets in consumer._acked.items() if offsets}
    views = {}
    for tp in consumer.assignment():
        if not app.topics.acks_enabled_for(tp.topic):
            continue
        views[tp] = PartitionView(
            committed=consumer._committed_offset.get(tp),
            read=consumer._read_offset.get(tp),
            end=consumer.highwater(tp),
            busy=tp in in_flight or tp in acked,
        )
    return views


def watching(app: faust.App) -> bool:
    """The consumer's bookkeeping is settled enough to be judged (no rebalance, recovery, pause)."""
    consumer: Any = app.consumer
    return not (app.rebalancing or app.in_recovery or not consumer.flow_active
                or out_of_contact(app))


async def check(app: faust.App, watch: StallWatch) -> None:
    """One look: read every partition again that has stalled long enough; never raises."""
    if not watching(app):
        return
    try:
        due = watch.due(partition_views(app), time.monotonic())
        for tp, committed in due.items():
            log.warning("consumer.stalled_reread tp=%s committed=%d stalled_s>=%.0f",
                        tp, committed, watch.stall_s)
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
