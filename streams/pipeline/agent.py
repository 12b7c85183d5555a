"""A `Pipeline` bound to Faust: its agent loop, its sweep timer, and Kafka for alerts/dead letters.

Why it exists: the runtime (`streams.pipeline.runtime`) knows nothing of Faust; this module feeds
it and keeps Faust's acknowledgement rule from losing data:
- `take_events` (and `faust_tuning.take_batches`, which mirrors it) acknowledges a batch in a
  `finally`, also when the agent is cancelled or fails mid-batch (faust-streaming #527/#189),
  which would commit offsets whose rows were never written. Each message of a batch gets one
  extra reference (`Message.incref`) while the batch is in flight, released only after
  `Pipeline.process` returned, so that `finally` can never bring the count to zero for a batch
  that did not complete: its offsets stay uncommitted and the batch is re-delivered (see
  `streams.faust_tuning` for the check on Faust's side).
- An exception that leaves `process` (Kafka unavailable for the alerts or dead letters) retries
  the same batch with backoff: the runtime is idempotent until its step 7.
- The sweep timer never raises: it logs, counts, and tries again at the next tick. It skips while
  the worker rebalances or recovers tables, and on partitions still catching up; a partition
  with records waiting is judged at the newest event processed there (see `sweep_clocks`).
What it must not do: decide anything about events (the domain does) or their order (the runtime).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import faust
from faust.types import TP

from schemas.alert import Alert
from schemas.deadletter import DeadLetter
from schemas.event import epoch_micros, now_utc
from streams import metrics
from streams.faust_tuning import committed_offset, take_batches
from streams.kafka_batches import KafkaBatches
from streams.pipeline.domain import Record
from streams.pipeline.policy import Backoff
from streams.pipeline.runtime import Pipeline, Rejection

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)


class KafkaOutbound:
    """Alerts to the alerts topic (key: subject), dead letters to the dead-letter topic, a batch
    per partition (`streams.kafka_batches`)."""

    def __init__(self, alerts: faust.TopicT, deadletter: faust.TopicT,
                 producer: Callable[[], AIOKafkaProducer]) -> None:
        self.alerts_topic = alerts.get_topic_name()
        self.deadletter_topic = deadletter.get_topic_name()
        self.producer = producer

    async def alerts(self, alerts: Sequence[Alert]) -> None:
        batches = KafkaBatches(self.producer)
        for alert in alerts:
            log.info("alert kind=%s subject=%r state=%s at=%s", alert.kind, alert.subject,
                     alert.state, alert.at.isoformat())
            batches.add(self.alerts_topic, None, alert.subject.encode(), alert.encode())
        await batches.send()

    async def dead_letters(self, rejections: Sequence[Rejection]) -> None:
        batches = KafkaBatches(self.producer)
        for rejection in rejections:
            record = rejection.record
            letter = DeadLetter.of(record.value or b"", rejection.reason,
                                   list(rejection.errors), topic=record.topic,
                                   partition=record.partition, offset=record.offset)
            batches.add(self.deadletter_topic, None, record.key, letter.encode())
        await batches.send()


def now_us() -> int:
    return epoch_micros(now_utc())


def records_of(events: Sequence[Any]) -> list[Record]:
    """The runtime's view of a Faust batch: where each record came from, and its raw bytes."""
    return [Record(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                   e.message.value) for e in events]


BATCH_RETRY = Backoff(initial=0.5, maximum=30.0)


class BacklogCheck:
    """Whether more records wait on a batch's partitions (fetched or still on the broker, by
    the consumer's high-water marks) than the batch holds: `take_batches` then lets it grow.

    Asked every `within` seconds about the batch being gathered, it reads only the events added
    since it last looked (a whole 10,000-event batch read 20 times over was 1.4% of the worker's
    samples); a batch whose first event is another one is a new batch."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.first: Any = None
        self.seen = 0
        self.last: dict[TP, int] = {}

    def __call__(self, events: Sequence[Any]) -> bool:
        if not events or events[0] is not self.first or len(events) < self.seen:
            self.first, self.seen, self.last = (events[0] if events else None), 0, {}
        last = self.last
        for event in events[self.seen:]:
            last[event.message.tp] = event.message.offset  # in offset order per partition
        self.seen = len(events)
        waiting = 0
        for tp, offset in last.items():
            end = self.app.consumer.highwater(tp)
            if end is not None:
                waiting += max(end - offset - 1, 0)
        return waiting >= len(events)


def batches(app: faust.App, stream: Any, *, within: float, max_batch: int,
            batch_max_sec: float) -> AsyncIterator[Sequence[Any]]:
    """The worker's batches of `stream`: taken after `within` seconds, or, while more records
    wait on their partitions than a batch holds (`BacklogCheck`), when it holds `max_batch`
    events or is `batch_max_sec` old (never sooner than `within`; `faust_tuning.take_batches`)."""
    return take_batches(stream, max_batch, within, max(within, batch_max_sec),
                        BacklogCheck(app))


async def consume(pipeline: Pipeline[Any], batches: AsyncIterator[Sequence[Any]], *,
                  backoff: Backoff = BATCH_RETRY) -> None:
    """The agent body: every batch (`batches`) through `pipeline.process`, acknowledged only
    when done."""
    async for events in batches:
        for event in events:
            event.message.incref()
        records = records_of(events)
        failures = 0
        while True:
            try:
                report = await pipeline.process(records, now_us())
                break
            except Exception:
                failures += 1
                delay = backoff.delay(failures)
                log.exception("pipeline.batch_failed pipeline=%s attempt=%d retry_in=%.1fs",
                              pipeline.domain.name, failures, delay)
                await asyncio.sleep(delay)
        for event in events:
            # The batch is done: drop our reference, so take_batches' ack commits it.
            event.message.decref()
        if records:
            metrics.record_batch(pipeline.domain.name, records[0].topic, report)


def processed_offset(app: faust.App, pipeline: Pipeline[Any], tp: TP) -> int | None:
    """The last offset of `tp` this worker's pipeline processed (None: nothing yet, ever).

    Before its first batch on a partition since it was assigned, the group's committed offset
    stands for it: a committed offset is the next one to read, so the one before it is done.
    """
    done = pipeline.progress.offsets.get(tp.partition)
    if done is not None:
        return done
    committed = committed_offset(app, tp)
    return None if committed is None else committed - 1


def partition_clock(end_offset: int | None, processed_offset: int | None,
                    newest_event_us: int | None, now_us: int, quiet_s: float) -> int | None:
    """The time a swept partition's states are judged at, or None while this worker is still
    catching up on it (not swept).

    - **Caught up** (no record waits): now.
    - **Records wait and what we saw is recent**: the newest event processed there. A key last
      heard of a second before that event has been silent one second, not since (its next
      event may be among the records waiting). After a rejoin a worker a few seconds behind
      judged such keys by the wall clock and raised `backup.stale` for jobs whose reports were
      in its backlog. Never later than now (a producer's clock may run ahead).
    - **Catching up** (None): records wait and the newest event processed is `quiet_s` old or
      more, or nothing was processed since the partition was assigned, or its end is not known
      yet (no fetch answered since it was assigned, just after a takeover). A worker catching up
      on a backlog (after a restart, a takeover, a sink outage, a producer's outbox draining, a
      replay) must not call its keys silent: their newer events are in the backlog.
    """
    if end_offset is None:
        return None
    if processed_offset is None:
        return None if end_offset > 0 else now_us
    if end_offset <= processed_offset + 1:
        return now_us
    if newest_event_us is None or now_us - newest_event_us >= quiet_s * 1e6:
        return None
    return min(now_us, newest_event_us)


def sweep_clocks(app: faust.App, pipeline: Pipeline[Any], owned: set[TP], now: int,
                 quiet_s: float) -> dict[int, int | None]:
    """Each owned partition of the pipeline's topic: the time its states are judged at, or None
    while this worker is catching up on it (`partition_clock`). A partition taken over with a
    backlog is caught up on first (`processed_offset`).
    """
    progress = pipeline.progress
    progress.forget({tp.partition for tp in owned})
    clocks: dict[int, int | None] = {}
    for tp in owned:
        end = app.consumer.highwater(tp)
        done = processed_offset(app, pipeline, tp)
        newest = progress.newest_us.get(tp.partition)
        clocks[tp.partition] = partition_clock(end, done, newest, now, quiet_s)
    return clocks


async def sweep_once(app: faust.App, pipeline: Pipeline[Any], owned: set[TP],
                     quiet_s: float) -> None:
    """One sweep tick: never raises (a failed tick is logged and the next one tries again)."""
    if app.rebalancing or app.in_recovery:
        return
    try:
        now = now_us()
        report = await pipeline.sweep(now, sweep_clocks(app, pipeline, owned, now, quiet_s))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("pipeline.sweep_failed pipeline=%s", pipeline.domain.name)
        return
    if report.changed_keys:
        log.info("pipeline.swept pipeline=%s changed=%d alerts=%d deleted=%d",
                 pipeline.domain.name, len(report.changed_keys), report.alerts, report.deleted)
