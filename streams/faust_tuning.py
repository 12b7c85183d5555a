"""Faust configured for throughput, and every shim over Faust/aiokafka internals, in one place.

Why it exists: out of the box a Faust agent here costs about 130 us of CPU per event while a bare
aiokafka consumer reads and decodes one in about 10 (issue 9). Part of that is configuration:
the event loop, fetch sizes meant for small messages, opt-in fast paths, and a fetch wait Faust
hard-codes. Each choice below is measured in `docs/performance.md` (`bench/faust_tuning.py`
reproduces the figures). The worker (`streams.app`) and the Faust floor benchmark
(`bench/faust_floor.py`) both take their configuration from here, so the benchmark measures what
the worker runs.

Four internals are relied on without patching them, and pinned the same way:
- `committed_offset`: Faust's consumer keeps the last committed offset per partition
  (`Consumer._committed_offset`); the sweeps read it to tell a taken-over partition's backlog.
- `kafka_producer`: the aiokafka producer under Faust's (`Producer._ensure_producer`), and
  aiokafka's `create_batch`, `send_batch` and `_partition` (its partitioner on a key), which
  `streams.kafka_batches` sends the changelogs and points with.
- `take_events` acknowledges its batch in a `finally` (faust-streaming #527/#189), also when the
  agent is cancelled mid-batch; the agent loop (`streams.pipeline.agent.consume`) holds an extra
  reference on every message in flight (`Message.incref` / `decref`) so that this `finally`
  cannot commit a batch whose rows were not written.
- `take_batches` is a copy of `take_events` (its processor, passive consumption and acks, on
  `Stream` internals) with one rule added: a batch grows while a backlog waits. Its test pins
  upstream's source by hash.

What it must not do: hold application logic, or patch anything outside this module. Every shim
has a test in `tests/unit/streams/test_faust_tuning.py` that fails when the upstream code it
relies on changes; when one fails, re-measure before adapting the shim (upstream may have fixed
the cause). This module does not import faust at import time: `use_uvloop()` must be able to run
before anything imports faust.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from streams import metrics

if TYPE_CHECKING:
    import faust
    from aiokafka import AIOKafkaProducer
    from faust.types import TP

log = logging.getLogger(__name__)

FAUST_FETCH_MAX_WAIT_MS = 1500
"""What faust-streaming hard-codes as the worker consumer's `fetch_max_wait_ms` (the shim's test
checks the upstream source still says so)."""

CONSUMER_MAX_FETCH_SIZE = 4 * 1024 * 1024
"""Bytes fetched per partition per request (Faust's default: 1 MiB, ~2,000 backup events of
~520 B). Fewer fetch round trips to wait for: measured +35% events/s on the floor."""

STREAM_BUFFER_MAXSIZE = 4096
"""Events buffered per agent stream before Faust pauses the partition. Faust's default, kept on
purpose: 16384 measured no cheaper, and only holds more unacknowledged events in memory."""

PRODUCER_LINGER_SECONDS = 0.01
"""How long Faust's producer gathers records into one produce request (Faust's default: 0, one
request per record). A pipeline batch sends a changelog and a points record per key: with 10 ms
they travel in a few requests. Measured on the worker end to end (80k backup events, loaded
machine, same run): 1,018 -> 1,883 events/s; with the batch size below, 2,323."""

PRODUCER_MAX_BATCH_SIZE = 1024 * 1024
"""Bytes of one producer batch per partition (Faust's default 16 KiB, ~15 changelog records)."""

DECLARED_TOPIC_VISIBLE_SECONDS = 15.0
"""How long a worker's topic declarations wait, all together, for the topics they created to show
in the broker's metadata (`patch_declared_topic_metadata`); then it starts anyway, as Faust's own
declarations do. A bound for the whole start-up: on a broker too loaded to show a new topic
within seconds, waiting for each of 16 would only delay the start further."""

CYTHON_MODULES = ("faust._cython.streams", "faust.transport._cython.conductor")
"""faust-streaming's compiled fast paths that `cython_optimizations` switches on (the PyPI wheels
ship them prebuilt)."""


def use_uvloop() -> None:
    """Run every event loop of this process on uvloop (measured: floor +27% events/s).

    Call it before anything imports faust: the Faust app (and with it its event loop) is built when
    `streams.app` is imported, so Faust's own `--loop uvloop` option comes too late to matter.
    """
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def cython_available() -> bool:
    """Whether faust-streaming's compiled extensions are importable (and NO_CYTHON is unset)."""
    if os.environ.get("NO_CYTHON"):
        return False
    return all(importlib.util.find_spec(module) is not None for module in CYTHON_MODULES)


def tuned_app_kwargs() -> dict[str, Any]:
    """The `faust.App(...)` keyword arguments that make a worker fast, each measured.

    `cython_optimizations` enables faust's repaired Cython fast paths (the stream iterator takes
    values already queued instead of awaiting the channel for each; the conductor decodes a
    message once for all its channels). It is on only where the extensions are installed; without
    them the setting has no effect anyway. Measured on a single-agent topic, its effect (+6%) is
    near the noise (docs/performance.md); it is kept because it can only remove work, and the
    conductor's reuse matches faust's pure-Python conductor (same key/value types only).
    """
    return {
        "consumer_max_fetch_size": CONSUMER_MAX_FETCH_SIZE,
        "stream_buffer_maxsize": STREAM_BUFFER_MAXSIZE,
        "cython_optimizations": cython_available(),
        "producer_linger": PRODUCER_LINGER_SECONDS,
        "producer_max_batch_size": PRODUCER_MAX_BATCH_SIZE,
    }


def patch_fetch_max_wait(fetch_max_wait_ms: int) -> None:
    """Make Faust's worker consumer wait at most `fetch_max_wait_ms` for data on a fetch.

    Why: faust-streaming's aiokafka driver builds the consumer with `fetch_max_wait_ms=1500`,
    whatever the settings say. aiokafka keeps one fetch in flight per broker, and a fetch asks
    only for partitions with nothing buffered; whenever handling the last records takes longer
    than aiokafka's prefetch backoff, the next fetch covers only idle partitions (there is always
    one: Faust's `<app>-__assignor-__leader`), so the broker holds it the full 1.5 s while the
    busy partitions, drained meanwhile, wait behind it.

    Measured (docs/performance.md), the stall does not show here (likely because Faust's
    consumer thread moves records out of aiokafka's buffer into its own stream buffers at once,
    so aiokafka rarely holds every busy partition back), and shorter waits only add empty
    fetches (10 ms: the CPU-bound worker ~28% slower, 5% of a core while idle, +36% CPU per event
    on the floor). So the setting defaults to Faust's
    own 1500 ms; the shim makes it a setting for the case where the stall does appear (e.g. an
    agent that takes longer per batch than aiokafka's 0.1 s prefetch backoff).

    The consumer is created unstarted; aiokafka hands `_fetch_max_wait_ms` to its fetcher in
    `start()`, so setting it right after construction is as if Faust had passed it. Idempotent:
    calling it again replaces the value.
    """
    if fetch_max_wait_ms <= 0:
        raise ValueError(f"fetch_max_wait_ms must be positive, got {fetch_max_wait_ms}")
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    current = AIOKafkaConsumerThread._create_worker_consumer
    original = getattr(current, "__wrapped__", current)

    @functools.wraps(original)
    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = fetch_max_wait_ms
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]


def patch_quiet_root_logger() -> None:
    """Keep Faust's worker from setting the root logger to DEBUG at log levels WARN and above.

    Why: at those levels Faust's worker adds a terminal progress spinner that "spins for every
    log message emitted", and lowers the root logger to DEBUG to feed it (even when stdout is not
    a terminal), so every `log.debug` in aiokafka's fetcher and producer and in Faust's topics
    builds a LogRecord and runs the handlers: ~5% of the worker's CPU in the profile (see
    docs/performance.md). Without the spinner the root logger keeps the configured level. At
    INFO and below Faust drops the spinner itself; this makes WARN and above the same.
    """
    from faust.worker import Worker

    current = Worker.on_setup_root_logger
    original = getattr(current, "__wrapped__", current)

    @functools.wraps(original)
    def on_setup_root_logger(self: Any, logger: Any, level: int) -> None:
        self.spinner = None
        original(self, logger, level)

    Worker.on_setup_root_logger = on_setup_root_logger  # type: ignore[method-assign]


def patch_declared_topic_metadata() -> None:
    """Make Faust's topic declaration refresh the declared topic's metadata, not every topic's.

    Why: faust-streaming's `Producer.create_topic` ends every declaration, also of a topic that
    exists, with `producer.client.force_metadata_update()` (its fix for #499). At start-up the
    producer's client tracks no topic, so aiokafka asks for the metadata of every topic on the
    broker, and decodes it in the worker's event loop. A worker declares its topics one after the
    other (16 here) before it subscribes and joins its group. Measured on the shared broker of
    the test suite (3,530 topics) on a loaded machine: 1-4 s per declaration, the worker joined
    its group 58 s after it started (docs/reliability.md, "A restarted worker late").

    The patched declaration creates the topic as Faust does (through Faust's transport, which
    skips a topic the client already knows), then has the client track it (`add_topic`): from
    then on the client's metadata requests name the tracked topics only, as aiokafka's producer
    does for every topic it sends to. A topic just created can take seconds to show in the
    broker's metadata (11 s measured on the loaded shared broker); the declaration waits for it,
    within `DECLARED_TOPIC_VISIBLE_SECONDS` for all of them, so that the worker subscribes to
    topics its group can be assigned (Faust's slow refreshes gave it that time by accident).
    The topic exists before the client tracks it, so no metadata request can auto-create it
    with the broker's defaults. Idempotent: calling it again replaces the wrapper.
    """
    from faust.transport.drivers.aiokafka import Producer
    from mode.utils.times import want_seconds

    current = Producer.create_topic
    original = getattr(current, "__wrapped__", current)
    budget = DECLARED_TOPIC_VISIBLE_SECONDS  # what is left of it, for this process

    @functools.wraps(original)
    async def create_topic(self: Any, topic: str, partitions: int, replication: int,
                           *, timeout: float = 20.0, retention: float | None = None,
                           **options: Any) -> None:
        if not self.app.conf.topic_allow_declare:
            # Faust's own path: it logs that declaring is disabled.
            await original(self, topic, partitions, replication, timeout=timeout,
                           retention=retention, **options)
            return
        producer = self._ensure_producer()
        await self.transport._create_topic(
            self, producer.client, topic, partitions, replication,
            timeout=int(want_seconds(timeout) * 1000.0),
            retention=int(want_seconds(retention) * 1000.0) if retention else None,
            **options)
        client = producer.client
        await client.add_topic(topic)
        nonlocal budget
        began = time.monotonic()
        while topic not in client.cluster.topics() and time.monotonic() - began < budget:
            # Just created: the broker's metadata does not show it yet. A worker that subscribes
            # before it does is assigned without it, and rebalances again when it shows up.
            await asyncio.sleep(0.25)
            await client.force_metadata_update()
        budget = max(0.0, budget - (time.monotonic() - began))

    Producer.create_topic = create_topic  # type: ignore[method-assign, assignment]


def patch_seek_uncommitted_partitions() -> None:
    """Make Faust's "seek to committed offsets" rewind a partition that has none, too.

    Why: Faust drops records it fetched while the group rebalanced or its flow was stopped
    (table recovery), and undoes that by seeking every partition back to its committed offset
    ("Seek stream partitions to committed offsets", `Consumer.perform_seek`). aiokafka's
    `seek_to_committed` seeks only partitions whose committed offset is above 0: one the group
    never committed stays where the dropped fetch left it, past records nobody processed. They
    are skipped for good, and lost once a later record on that partition is committed. Seen in
    `tests/integration/backup/test_crash_while_rows_retry.py` (docs/reliability.md): the worker
    killed before its first heartbeat batch was committed, the restarted one joined, recovered,
    and never wrote that heartbeat; the group had no offset for its partition. This closes that
    path only: records are also dropped after the seek, still open (docs/reliability.md, "A
    restarted worker late", cause 3).

    The patched seek does what aiokafka's does, then puts every stream partition without a
    committed offset where the group's reset policy starts (`consumer_auto_offset_reset`:
    earliest here), as if it had just been assigned. Changelog partitions are left to the
    recovery, which seeks them itself. Idempotent: calling it again replaces the wrapper.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    current = AIOKafkaConsumerThread.seek_to_committed
    original = getattr(current, "__wrapped__", current)

    async def seek_committed_or_reset(self: Any) -> Any:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        unset = [tp for tp, offset in committed.items()
                 if not offset and self.app.topics.acks_enabled_for(tp.topic)]
        if unset:
            reset = self.app.conf.consumer_auto_offset_reset
            if reset == "earliest":
                await consumer.seek_to_beginning(*unset)
            elif reset == "latest":
                await consumer.seek_to_end(*unset)
        return committed

    @functools.wraps(original)
    async def seek_to_committed(self: Any) -> Any:
        return await self.call_thread(seek_committed_or_reset, self)

    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]


def patch_no_gap_filling() -> None:
    """Make Faust never count records it did not deliver as done.

    Why: when a delivered record's offset is more than one past the previous one, Faust's drain
    loop fills the offsets between in as a "gap" (`Consumer._add_gap`), and its commit treats a
    gap like acked records; Faust does that for topics with holes of their own (compaction,
    transaction markers). Our stream topics have none: an idempotent producer without
    transactions writes consecutive offsets, and no stream topic is compacted. So a gap is
    records Faust fetched and dropped (its read offset moved past them at a rebalance),
    and filling it commits over them unprocessed. Seen in the three-worker fault test: one job's
    last report (offset 80 of its partition, the partition committed at 85) never reached the
    job's state, and its view stayed a round behind for good. Unit-tested on that case.

    The patched `_add_gap` logs the gap and records nothing: the commit stops before the first
    missing record, which is then the hole at the head that the commit guard below reads again;
    offsets that a re-read does not deliver either (another producer's transaction markers)
    the guard then counts done.
    Idempotent: calling it again replaces the wrapper.
    """
    from faust.transport.consumer import Consumer

    current = Consumer._add_gap
    original = getattr(current, "__wrapped__", current)

    @functools.wraps(original)
    async def _add_gap(self: Any, tp: TP, offset_from: int, offset_to: int) -> None:
        log.warning("consumer.gap_not_filled tp=%s missing=%d-%d (read again, not committed "
                    "over)", tp, offset_from, offset_to - 1)

    Consumer._add_gap = _add_gap  # type: ignore[method-assign]


HEAD_HOLE_REREAD_SECONDS = 5.0
"""How long the record at a partition's committed offset may stay missing while later records
are done before the consumer seeks back and reads it again (see the commit guard below)."""


def patch_commit_only_from_the_committed_head() -> None:
    """Make Faust never commit past the record at a partition's committed offset unless it is
    acked, and read that record again when it went missing.

    Why: faust-streaming's `Consumer._new_offset` withholds a commit when the acked offsets start
    after the committed one by more than one (`min(acked) - committed_offset > 1`). The committed
    offset is the NEXT record to read, so acked offsets starting one after it mean exactly one
    record, the first one to read, is not acked, and Faust commits over it (faust-streaming
    #606, open; PR #707). The offsets Faust fills in as a "gap" (`_add_gap`, for records it did
    not deliver) make the same hole look acked. After a rebalance that is how records Faust
    dropped while it sought back to the committed offsets get committed without being processed:
    `tests/faults/test_three_workers.py`'s long variant lost 15 `telemetry_history` rows, whole
    batches of a partition, each at a rebalance (docs/reliability.md).

    The patched `_new_offset` answers None (nothing to commit yet) while the lowest offset it
    would count as done, acked or gap, is above the committed offset: the commit waits for the
    record at the head. Our topics have no holes of their own (no compaction and no transactions
    on the topics the agents consume), and one agent acks a partition's records in order, so a
    hole at the head with later records done is always a record Faust dropped: Faust's consumer
    drops every fetched record below its read offset, and a fetch that straddles a rebalance can
    move that offset past the seek to the committed offsets. Waiting alone would hold the
    partition's commits until the next rebalance and leave the dropped records unprocessed until
    then (the same long variant, with the guard only: 13 nodes' history rows missing at the end).
    So once a hole at the head has lasted `HEAD_HOLE_REREAD_SECONDS`, the consumer seeks the
    partition back to its committed offset and reads it again from there: the dropped records
    are processed, the ones after them a second time (the sinks are idempotent). A hole that
    lasts as long again after that re-read, while the re-read delivered records past it and
    its own record is nowhere in the worker (not in flight, not in a stream's buffer), is
    offsets no fetch delivers (a transaction marker of another producer, a compacted record):
    it is counted done, as Faust's gap would, and logged `consumer.head_hole_accepted`. A
    partition without a committed offset is left as Faust has it. Idempotent: calling it again
    replaces the wrapper.
    """
    from faust.transport.consumer import Consumer

    current = Consumer._new_offset
    original = getattr(current, "__wrapped__", current)

    @functools.wraps(original)
    def _new_offset(self: Any, tp: TP) -> int | None:
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        holes: dict[TP, tuple[int, float, int]] = self.__dict__.setdefault("_head_holes", {})
        if acked and committed:
            starts = [min(acked)]
            starts.extend(interval.begin for interval in self._gap[tp].overlap(0, max(acked)))
            if min(starts) > committed:
                if not _hole_outlasted_a_reread(self, holes, tp, committed, min(starts)):
                    return None
                # No fetch delivers these offsets: count them done, as Faust's gap does.
                self._gap[tp].addi(committed, min(starts))
        holes.pop(tp, None)
        result: int | None = original(self, tp)
        return result

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]


def _hole_outlasted_a_reread(consumer: Any, holes: dict[TP, tuple[int, float, int]], tp: TP,
                             committed: int, done_from: int) -> bool:
    """Seek `tp` back to `committed` once its head hole has lasted HEAD_HOLE_REREAD_SECONDS;
    True once it lasted as long again after a re-read (offsets no fetch delivers)."""
    now = time.monotonic()
    seen, since, rereads = holes.get(tp, (committed, now, 0))
    if seen != committed:
        since, rereads = now, 0
    if now - since < HEAD_HOLE_REREAD_SECONDS:
        holes[tp] = (committed, since, rereads)
        return False
    if rereads:
        read = consumer._read_offset.get(tp)
        if read is None or read <= committed or _offset_held(consumer, tp, committed):
            # The re-read has not passed the hole yet, or delivered its record and that is
            # still being processed: it fills the hole once acked.
            return False
        log.warning("consumer.head_hole_accepted tp=%s missing=%d-%d (not delivered after a "
                    "re-read: a transaction marker or a compacted record)", tp, committed,
                    done_from - 1)
        holes.pop(tp, None)
        return True
    holes[tp] = (committed, now, 1)  # if the re-read does not fill it, accepted after as long
    log.warning("consumer.head_hole_reread tp=%s committed=%d done_from=%d missing_s=%.1f",
                tp, committed, done_from, now - since)
    metrics.PARTITION_REREADS.labels(tp.topic, "head_hole").inc()
    # `seek_wait` runs in the consumer's thread (Faust's `seek` calls aiokafka from this one,
    # which stalled the fetcher for good: the three-worker test's worker went silent after it).
    seek = asyncio.ensure_future(consumer.seek_wait({tp: committed}))
    _PENDING_SEEKS.add(seek)
    seek.add_done_callback(_seek_done)
    return False


def _offset_held(consumer: Any, tp: TP, offset: int) -> bool:
    """The record at `offset` of `tp` is in the worker: taken by a stream and unacked, or in a
    stream's buffer (where Faust's conductor puts fetched events)."""
    if any(m.tp == tp and m.offset == offset for m in list(consumer._unacked_messages)):
        return True
    return any(event.message.tp == tp and event.message.offset == offset
               for event in buffered_events(consumer.app))


def buffered_events(app: Any) -> list[Any]:
    """The events fetched and waiting in the streams' buffers (Faust's conductor puts each in
    its subscribed channel's own queue until a stream takes it)."""
    return [event for channel in list(app.topics._topics)
            if (queue := getattr(channel, "_queue", None)) is not None
            for event in list(queue._queue)]


_PENDING_SEEKS: set[asyncio.Future[Any]] = set()
"""Seeks in flight (a task nobody holds may be collected before it ran)."""


def _seek_done(seek: asyncio.Future[Any]) -> None:
    _PENDING_SEEKS.discard(seek)
    if not seek.cancelled() and seek.exception() is not None:
        # The hole stays, so the next commit after HEAD_HOLE_REREAD_SECONDS tries again.
        log.warning("consumer.head_hole_reread_failed error=%r", seek.exception())


PRODUCER_FLUSH_SECONDS = 60.0
"""How long a flush of Faust's producer buffer (before each commit, at each revocation) waits for
the records buffered when it began before it gives up and logs `producer.flush_incomplete`."""


def patch_producer_buffer_flush() -> None:
    """Make a flush of Faust's producer buffer wait until what it held is acknowledged by Kafka.

    Why: a table write (`table[key] = value`) puts its changelog record in Faust's producer
    buffer, handed to aiokafka by a background task. Faust flushes that buffer before it commits
    offsets and when partitions are revoked, so that the changelog holds every state the
    committed offsets stand for; but `ProducerBuffer.flush` (`flush_atmost(None)`) returns as
    soon as no record left the buffer for 0.1 s, with records still in it, and the aiokafka flush
    after it only covers what was handed over. Under load ("producer buffer full" in the log)
    the offsets were committed, or the partitions handed to the next owner, before the last
    states reached the changelog: the next owner restored older states and, its source offsets
    past the events that made the newer ones, kept them (the three-worker fault test: 7-8 keys'
    views a round behind their PostgreSQL rows after "start B", the load held, every record of
    the new owner's partitions processed and committed).

    The patched flush waits, for at most `PRODUCER_FLUSH_SECONDS`, until every record that was
    in the buffer when it began (and the one being handed over) is acknowledged: each is a
    `FutureMessage` that Faust resolves on Kafka's answer. Records buffered later are not waited
    for, so a flush ends under a steady stream of table writes. Idempotent: calling it again
    replaces the wrappers.
    """
    from faust.transport.producer import ProducerBuffer

    flush = getattr(ProducerBuffer.flush, "__wrapped__", ProducerBuffer.flush)
    send_pending = getattr(ProducerBuffer._send_pending, "__wrapped__",
                           ProducerBuffer._send_pending)

    @functools.wraps(send_pending)
    async def _send_pending(self: Any, fut: Any) -> None:
        self.__dict__["_handing_over"] = fut
        try:
            await send_pending(self, fut)
        finally:
            self.__dict__["_handing_over"] = None

    @functools.wraps(flush)
    async def flush_buffered(self: Any) -> None:
        held = list(self.pending._queue) if self.pending is not None else []
        handing_over = self.__dict__.get("_handing_over")
        if handing_over is not None:
            held.append(handing_over)
        await flush(self)
        waiting = [fut for fut in held if not fut.done()]
        if not waiting:
            return
        _, late = await asyncio.wait(waiting, timeout=PRODUCER_FLUSH_SECONDS)
        if late:
            log.warning("producer.flush_incomplete pending=%d waited_s=%.0f", len(late),
                        PRODUCER_FLUSH_SECONDS)

    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    ProducerBuffer.flush = flush_buffered  # type: ignore[method-assign]


class GroupContact:
    """When the consumer group last confirmed this worker's membership (monotonic seconds).

    Why: a worker cut off from the broker by a network partition keeps running and keeps its
    assignment, while the broker ends its session and gives its partitions to another worker;
    it learns so only when the network heals. Meanwhile its sweeps raise staleness and
    inactivity alerts for keys whose reports now reach the other worker, and its views answer
    200 from tables that stopped moving (`tests/faults/test_network_partition.py`). aiokafka
    keeps the time of its last successful heartbeat in a local variable of its heartbeat
    routine; `patch_group_contact` records it here instead.
    """

    confirmed_at: float | None = None
    """Sent time of the last heartbeat the coordinator answered, or of the last completed join
    (None: no group joined yet)."""

    @classmethod
    def confirm(cls, at: float) -> None:
        cls.confirmed_at = at if cls.confirmed_at is None else max(cls.confirmed_at, at)

    @classmethod
    def lost(cls, session_s: float, now: float | None = None) -> bool:
        """True once no confirmation came for half a session: the broker may have ended this
        member's session by now, and its partitions be another worker's."""
        if cls.confirmed_at is None:
            return False
        return (time.monotonic() if now is None else now) - cls.confirmed_at > session_s / 2


def patch_group_contact() -> None:
    """Record in `GroupContact` every heartbeat the coordinator answers and every completed join.

    aiokafka's `GroupCoordinator._do_heartbeat` returns True when the coordinator answered the
    member still belongs to its generation (also "rebalancing": the member is still in), and
    `_on_join_complete` runs once a (re)join was answered with an assignment (it runs the
    assignment callbacks; the time is noted after them). The wrappers note the time, nothing
    else. Idempotent: calling it again replaces the wrappers.
    """
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    heartbeat = getattr(GroupCoordinator._do_heartbeat, "__wrapped__",
                        GroupCoordinator._do_heartbeat)
    joined = getattr(GroupCoordinator._on_join_complete, "__wrapped__",
                     GroupCoordinator._on_join_complete)

    @functools.wraps(heartbeat)
    async def _do_heartbeat(self: Any) -> bool:
        sent = time.monotonic()
        answered: bool = await heartbeat(self)
        if answered:
            GroupContact.confirm(sent)
        return answered

    @functools.wraps(joined)
    async def _on_join_complete(self: Any, *args: Any) -> Any:
        # Noted once the assignment callbacks ran (Faust's generation moved): a commit waiting
        # for contact must see the new generation first (`Pipeline._still_assigned`).
        result = await joined(self, *args)
        GroupContact.confirm(time.monotonic())
        return result

    GroupCoordinator._do_heartbeat = _do_heartbeat
    GroupCoordinator._on_join_complete = _on_join_complete


def out_of_contact(app: faust.App) -> bool:
    """This worker has not heard from its consumer group for half its session (`GroupContact`)."""
    return GroupContact.lost(float(app.conf.broker_session_timeout))


BULK_RECOVERY_SHARE = 0.8
"""Share of `broker_request_timeout` (Faust's bound on each recovery step, 90 s by default) the
bulk read of the active changelog partitions may take; Faust's own recovery reads whatever is
left after it, and the rest of the share is the seek's that follows. A worker whose state takes
longer to read raises the timeout (`BROKER_REQUEST_TIMEOUT`)."""


def patch_bulk_recovery() -> None:
    """Make a worker read its active changelog partitions in bulk before Faust's recovery does.

    Why: Faust's recovery costs about 275 us of CPU per changelog record (py-spy, 100,000 keys:
    the fetcher's `wait_first` per record, the conductor, the changelog queue, and
    `Recovery._slurp_changelogs` building a `Counter` of what remains after each record), so a
    worker with 1,000,000 keys would serve its views minutes after a restart
    (docs/reliability.md). `streams.bulk_recovery.recover` applies the same records a fetched
    batch at a time, decoded and stored as Faust's recovery does: ~22 us a record.

    Faust's recovery seeks the active changelog partitions to the offsets it has recovered
    (`Recovery._seek_offsets(..., "active")`) after it has built their highwaters and before it
    reads them. The patched seek first reads each active partition up to its highwater, moving
    the recovered offset as Faust's own reading does, then seeks: Faust finds nothing left to
    recover (`need_recovery()` is false) and goes on as after any recovery. Past its time share
    (`BULK_RECOVERY_SHARE`) the bulk read stops at a batch boundary and Faust reads the rest; a
    rebalance meanwhile cancels it as it cancels Faust's step. Standby partitions are left to
    Faust. Idempotent: calling it again replaces the wrapper.
    """
    from faust.tables.recovery import Recovery

    from streams import bulk_recovery

    current = Recovery._seek_offsets
    original = getattr(current, "__wrapped__", current)

    @functools.wraps(original)
    async def _seek_offsets(self: Any, consumer: Any, tps: set[TP], offsets: Any,
                            title: str) -> None:
        if title == "active" and tps:
            await bulk_recovery.recover(
                self.app, {tp: self.tp_to_table[tp] for tp in tps}, offsets,
                self.active_highwaters,
                budget_seconds=self.app.conf.broker_request_timeout * BULK_RECOVERY_SHARE)
        await original(self, consumer, tps, offsets, title)

    Recovery._seek_offsets = _seek_offsets  # type: ignore[method-assign]


def committed_offset(app: faust.App, tp: TP) -> int | None:
    """The offset this group last committed on `tp` (None: nothing committed yet)."""
    committed: Any = app.consumer._committed_offset  # type: ignore[attr-defined]
    offset: int | None = committed.get(tp)
    return offset


def kafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The aiokafka producer under Faust's, for `streams.kafka_batches` (the worker's one
    producer: its connections, settings and partitioner). Faust starts it with the app."""
    producer: AIOKafkaProducer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    return producer


TAKE_EVENTS_SHA256 = "607d48aead118ba8ea868718a0df87de1c5fcecd10ec542c659b448796728e08"
"""The source of faust's `Stream.take_events` that `take_batches` mirrors: its test fails when
upstream changes it (compare the two, then update both)."""


def take_batches(stream: Any, max_: int, within: float, longest: float,
                 behind: Callable[[Sequence[Any]], bool]) -> AsyncIterator[list[Any]]:
    """Faust's `Stream.take_events`, with a batch that keeps growing while a backlog waits.

    Why: `take_events` yields what arrived within `within` seconds of the previous batch. That
    bounds latency at low load, but under load it bounds the batch by Faust's dispatch rate
    (50 ms: ~750 backup events at ~15k events/s), however many records wait, and every batch
    costs a write per key, a PostgreSQL round trip and a changelog acknowledgement. Here, when
    `within` has passed, a batch `behind` says more records wait for than it holds waits up to
    `within` again, until it holds `max_` events or its first event came `longest` seconds ago.
    At ordinary load a batch still leaves after `within`; catching up, batches fill.

    Everything else is `take_events` as upstream has it (`TAKE_EVENTS_SHA256`): the passive
    consumption through a processor, the strict `max_`, and the acknowledgement of every
    event in a `finally` once the consumer asks for the next batch (also when it is cancelled
    mid-batch: `streams.pipeline.agent.consume` holds its own reference on each message).
    Registered with the stream as upstream's are, so that stopping the stream closes it.
    """
    batches = _take_batches(stream, max_, within, longest, behind)
    stream._active_agens.add(batches)
    return batches


class _TakeBuffer:
    """The events `take_batches` gathers: its stream's processor adds each one (strictly at
    most `max_`: a full buffer holds the stream until it was consumed)."""

    def __init__(self, stream: Any, max_: int) -> None:
        self.stream = stream
        self.max_ = max_
        self.events: list[Any] = []
        self.started = 0.0
        self.full = asyncio.Event()
        self.consumed = asyncio.Event()
        self.consuming: asyncio.Future[None] | None = None

    async def add(self, value: Any) -> Any:
        try:
            if self.consuming is not None:
                try:
                    await self.consuming
                finally:
                    self.consuming = None
            event = self.stream.current_event
            if event is None:
                raise RuntimeError("Take buffer found current_event is None")
            if not self.events:
                self.started = time.monotonic()
            self.events.append(event)
            if len(self.events) >= self.max_:
                self.full.set()
                self.consumed.clear()
                await self.stream.wait(self.consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stream.log.exception("Error adding to take buffer: %r", exc)
            await self.stream.crash(exc)
        return value


async def _take_batches(stream: Any, max_: int, within: float, longest: float,
                        behind: Callable[[Sequence[Any]], bool]) -> AsyncIterator[list[Any]]:
    from mode.utils.futures import notify

    buffer = _TakeBuffer(stream, max_)
    events = buffer.events
    stream_enable_acks: bool = stream.enable_acks
    channel_it = aiter(stream.channel)
    stream.enable_acks = False
    stream.add_processor(buffer.add)
    stream._enable_passive(channel_it)
    try:
        timeout = within
        while not stream.should_stop:
            await stream.wait_for_stopped(buffer.full, timeout=timeout)
            timeout = within
            if not events:
                continue
            left = longest - (time.monotonic() - buffer.started)
            if not buffer.full.is_set() and left > 0 and behind(events):
                timeout = min(within, left)
                continue
            buffer.consuming = stream.loop.create_future()
            try:
                yield list(events)
            finally:
                for event in events:
                    await stream.ack(event)
                events.clear()
                notify(buffer.consuming)
                buffer.full.clear()
                buffer.consumed.set()
    finally:
        stream.enable_acks = stream_enable_acks
        stream._processors.remove(buffer.add)
