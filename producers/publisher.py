"""Delivers the outbox to Kafka: the one way every fleetstream producer publishes.

Why it exists: agents must never wait on Kafka. `publish()` only commits the event to the local
outbox and wakes a background drain task. That task sends the backlog oldest first with an
idempotent producer (acks="all") and deletes each row only after Kafka acknowledged it. While Kafka
is unreachable, or a topic does not exist yet (the stream worker creates topics, so an unknown
topic is a wait, not a failure), it backs off exponentially with jitter and the backlog waits on
disk, bounded by the outbox's drop-oldest limits.

Delivery is at-least-once: a crash between Kafka's ack and the row's deletion resends the row after
a restart, and the `event_id` inside the value makes that a duplicate the stream workers drop.
Order: rows are handed to the producer strictly oldest first and, with idempotence, Kafka keeps
that order within a partition (that is, per key).

What it must not do: encode, decode or inspect events; create topics; let a Kafka problem reach
the caller, other than through `stats()` and the log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from common import kafka
from common.settings import Settings
from producers.outbox import Outbox, RecordTooLargeError

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Conditions of a Kafka outage or of a deployment still in progress: logged at WARNING. Any other
# Kafka error is retried the same way (dropping would lose events) but logged at ERROR.
_EXPECTED_ERRORS = (
    KafkaConnectionError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
    NodeNotReadyError,
    RequestTimedOutError,
    TimeoutError,
)


# How long `stop()` waits for the drain task to end before cancelling it again.
_RECANCEL_SECONDS = 0.5


def outbox_name(kind: str, identity: str) -> str:
    """A publisher name (and outbox file) per producer identity, made file-safe.

    Processes that may run side by side (a heartbeat emitter per worker id, a `backup-report` per
    job) each get their own outbox file: an outbox counts its backlog per process.
    """
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9._-]", "_", identity)

class PublisherError(RuntimeError):
    """The publisher cannot deliver: used before `start()`, after `stop()`, or its task crashed."""


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """The publisher's health as an agent reports it: backlog, losses, connection, last error."""

    name: str
    depth: int
    bytes: int
    dropped: int
    """Events the outbox dropped (oldest first) to stay within its bounds, across restarts."""
    oldest_enqueued_at: float | None
    connected: bool
    """A Kafka producer is up; False while connecting or backing off after a failure."""
    last_error: str | None
    """The latest delivery failure (kept after recovery; see `last_error_at`)."""
    last_error_at: float | None


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential, capped, jittered.

    The ceiling doubles from `initial` up to `maximum`; the wait is drawn from its upper half, so
    the many agents that lost the same broker do not all come back in the same instant.
    """
    ceiling = min(maximum, initial * 2.0 ** min(attempt - 1, 62))
    return random.uniform(ceiling / 2, ceiling)


class Publisher:
    """Durable, never-blocking publishing for one producer process (e.g. "node-agent").

    Each named publisher owns its outbox file, `<data_dir>/outbox/<name>.sqlite3`, and one
    `AIOKafkaProducer`, which is replaced whenever a delivery fails or stalls. Being a FIFO, an
    event for a topic that does not exist yet holds back the events queued behind it until the
    stream worker has created its topics.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        batch_size: int = 1000,
        max_batch_size: int = 512 * 1024,
        linger_ms: int = 5,
        max_request_size: int = 1024 * 1024,
        request_timeout_ms: int = 10_000,
        retry_backoff_initial: float = 0.5,
        retry_backoff_max: float = 30.0,
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"publisher name {name!r} must be letters, digits, '.', '_' or '-' "
                "(it names the outbox file)"
            )
        self.name = name
        self._settings = settings
        self._bootstrap_servers = kafka.bootstrap_servers(settings)
        self._outbox = Outbox(
            settings.data_dir / "outbox" / f"{name}.sqlite3",
            max_events=settings.outbox_max_events,
            max_bytes=settings.outbox_max_bytes,
        )
        self._batch_size = batch_size
        self._max_batch_size = max_batch_size
        self._linger_ms = linger_ms
        self._max_request_size = max_request_size
        self._request_timeout_ms = request_timeout_ms
        # An idempotent producer retries a batch forever instead of failing it, so a stall is
        # only noticed by a deadline of our own; it allows one full retry after a request timeout.
        self._delivery_timeout = 2 * request_timeout_ms / 1000 + linger_ms / 1000
        self._backoff_initial = retry_backoff_initial
        self._backoff_max = retry_backoff_max

        self._producer: Any = None
        self._drain_task: asyncio.Task[None] | None = None
        self._stopped = False
        self._wake = asyncio.Event()
        self._delivered = asyncio.Event()
        self._logged_dropped = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None

    async def start(self) -> None:
        """Open the outbox and start delivering in the background; never waits for Kafka."""
        if self._drain_task is not None or self._stopped:
            raise PublisherError(f"publisher {self.name} was already started")
        stats = await self._outbox.stats()
        self._logged_dropped = stats.dropped
        log.info(
            "publisher.started name=%s bootstrap=%s depth=%d dropped=%d",
            self.name, ",".join(self._bootstrap_servers), stats.depth, stats.dropped,
        )
        self._drain_task = asyncio.create_task(
            self._drain_forever(), name=f"publisher-drain-{self.name}"
        )
        self._drain_task.add_done_callback(self._on_drain_done)

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        """Durably enqueue one encoded event for `topic`; returns once it is on local disk."""
        await self.publish_many([(topic, key, value)])

    async def publish_many(self, records: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Durably enqueue (topic, key, value) events in order, in one local transaction."""
        self._check_running()
        for topic, key, value in records:
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])
            if size > self._max_request_size:
                raise RecordTooLargeError(
                    f"event for topic {topic!r} is {size} bytes as a Kafka record, larger than "
                    f"max_request_size={self._max_request_size}"
                )
        await self._outbox.put_many(records)
        self._wake.set()
        stats = await self._outbox.stats()
        if stats.dropped != self._logged_dropped:
            log.warning(
                "outbox.dropped total=%d new=%d name=%s depth=%d bytes=%d",
                stats.dropped, stats.dropped - self._logged_dropped, self.name,
                stats.depth, stats.bytes,
            )
            self._logged_dropped = stats.dropped

    async def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every enqueued event to be acknowledged by Kafka.

        Returns True when the outbox is empty, False when the time ran out first.
        """
        self._check_running()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Cleared before looking, so a delivery after the look still wakes the wait below.
            self._delivered.clear()
            if (await self._outbox.stats()).depth == 0:
                return True
            self._check_running()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            assert self._drain_task is not None
            delivered = asyncio.ensure_future(self._delivered.wait())
            try:
                await asyncio.wait(
                    {delivered, self._drain_task},
                    timeout=remaining,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                delivered.cancel()

    async def stop(self, flush_timeout: float = 5.0) -> bool:
        """Deliver what Kafka takes within `flush_timeout`, then close; the rest stays on disk.

        Returns True when nothing was left undelivered. Closing can take up to
        `request_timeout_ms` more when a request is in flight to a broker that just went away.
        """
        if self._stopped:
            return False
        flushed = False
        try:
            if self._drain_task is not None and not self._drain_task.done():
                flushed = await self.flush(flush_timeout)
        finally:
            self._stopped = True
            if self._drain_task is not None:
                await _cancel_until_done(self._drain_task)
            if self._producer is not None:
                await self._discard_producer()
            stats = await self._outbox.stats()
            await self._outbox.close()
            log.info(
                "publisher.stopped name=%s undelivered=%d dropped=%d",
                self.name, stats.depth, stats.dropped,
            )
        return flushed

    async def stats(self) -> PublisherStats:
        """Backlog, dropped total, connection state and last error; cheap (no disk access)."""
        outbox = await self._outbox.stats()
        return PublisherStats(
            name=self.name,
            depth=outbox.depth,
            bytes=outbox.bytes,
            dropped=outbox.dropped,
            oldest_enqueued_at=outbox.oldest_enqueued_at,
            connected=self._producer is not None,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
        )

    def _check_running(self) -> None:
        if self._stopped:
            raise PublisherError(f"publisher {self.name} is stopped")
        task = self._drain_task
        if task is None:
            raise PublisherError(f"publisher {self.name} is not started; call start() first")
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise PublisherError(
                f"publisher {self.name} stopped delivering after an unexpected error; events "
                "are kept in its outbox and delivered after a restart"
            ) from task.exception()

    async def _drain_forever(self) -> None:
        failures = 0
        while not self._stopping():
            try:
                if self._producer is None:
                    self._producer = await self._connect()
                sent = await self._drain_once(self._producer)
            except (KafkaError, TimeoutError, sqlite3.Error) as exc:
                failures += 1
                if self._producer is not None and not isinstance(
                    exc, UnknownTopicOrPartitionError | sqlite3.Error
                ):
                    # After a failed or stalled delivery the producer may be wedged (an
                    # idempotent producer retries forever, aiokafka#1101): start over with a
                    # new one; the rows it did not get acknowledged are still in the outbox.
                    await self._discard_producer()
                await self._retry_later(exc, failures)
                continue
            if failures:
                log.info("publisher.recovered name=%s failed_attempts=%d", self.name, failures)
                failures = 0
            if sent == 0:
                await self._wake.wait()

    def _stopping(self) -> bool:
        """`stop()` began, even if the cancel it sent was lost (see `_cancel_until_done`)."""
        task = asyncio.current_task()
        return self._stopped or (task is not None and task.cancelling() > 0)

    async def _connect(self) -> Any:
        producer = AIOKafkaProducer(
            **kafka.client_kwargs(self._settings),
            client_id=f"fleetstream-{self.name}",
            acks="all",
            enable_idempotence=True,
            max_batch_size=self._max_batch_size,
            linger_ms=self._linger_ms,
            max_request_size=self._max_request_size,
            request_timeout_ms=self._request_timeout_ms,
        )
        try:
            # start() can wait forever for a producer id from a broker that went away mid-way.
            await asyncio.wait_for(producer.start(), 2 * self._request_timeout_ms / 1000)
        except KafkaConnectionError:
            await self._stop_producer(producer)
            # aiokafka reports a refused login as an unreachable broker; a wrong password must
            # end delivery with one clear error (KafkaCredentialsError), not be retried forever.
            await kafka.check_credentials(self._settings, self._request_timeout_ms / 1000)
            raise
        except BaseException:
            await self._stop_producer(producer)
            raise
        log.info(
            "publisher.connected name=%s bootstrap=%s",
            self.name, ",".join(self._bootstrap_servers),
        )
        return producer

    async def _drain_once(self, producer: Any) -> int:
        """Send the oldest batch of rows, delete the acknowledged ones; 0 when nothing is queued."""
        # Cleared before peeking, so an event enqueued after the peek still wakes the loop.
        self._wake.clear()
        records = await self._outbox.peek(self._batch_size)
        if not records:
            return 0
        handed: list[tuple[int, asyncio.Future[Any]]] = []
        send_error: BaseException | None = None
        for record in records:
            try:
                future = await producer.send(record.topic, value=record.value, key=record.key)
            except KafkaError as exc:
                # Later rows wait for this one: handing them over now would reorder the FIFO.
                send_error = exc
                break
            handed.append((record.id, future))
        acked, delivery_error = await self._wait_for_acks(handed)
        if acked:
            await self._outbox.delete(acked)
            self._delivered.set()
        if delivery_error is not None:
            raise delivery_error
        if send_error is not None:
            raise send_error
        return len(acked)

    async def _wait_for_acks(
        self, handed: list[tuple[int, asyncio.Future[Any]]]
    ) -> tuple[list[int], BaseException | None]:
        """Ids acknowledged by Kafka, and the first delivery error (a stall counts as one)."""
        if not handed:
            return [], None
        done, pending = await asyncio.wait(
            [future for _, future in handed], timeout=self._delivery_timeout
        )
        acked: list[int] = []
        error: BaseException | None = None
        for row_id, future in handed:
            if future not in done:
                # The discarded producer fails these later; retrieve that so asyncio stays quiet.
                future.add_done_callback(_retrieve_outcome)
                continue
            outcome = _retrieve_outcome(future)
            if outcome is None:
                acked.append(row_id)
            elif error is None:
                error = outcome
        if pending and error is None:
            error = KafkaTimeoutError(
                f"{len(pending)} events not acknowledged within {self._delivery_timeout:g}s"
            )
        return acked, error

    async def _retry_later(self, exc: BaseException, attempt: int) -> None:
        delay = backoff_delay(attempt, self._backoff_initial, self._backoff_max)
        self._last_error = _describe(exc)
        self._last_error_at = time.time()
        await self._persist_error(self._last_error, self._last_error_at)
        depth = (await self._outbox.stats()).depth
        level = logging.WARNING if isinstance(exc, _EXPECTED_ERRORS) else logging.ERROR
        log.log(
            level,
            "publisher.delivery_failed name=%s error=%r attempt=%d retry_in=%.2fs depth=%d",
            self.name, self._last_error, attempt, delay, depth,
        )
        # A plain sleep, not the wake event: a steady stream of publishes must not defeat the
        # backoff while Kafka is down.
        await asyncio.sleep(delay)

    async def _persist_error(self, error: str, at: float) -> None:
        """Keep the error in the outbox file for `fleetstream outbox`; best effort: a disk that
        cannot take it must not stop the delivery loop (the error is logged either way)."""
        try:
            await self._outbox.record_error(error, at)
        except sqlite3.Error as exc:
            log.warning("publisher.error_not_recorded name=%s error=%r", self.name, exc)

    async def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        await self._stop_producer(producer)

    async def _stop_producer(self, producer: Any) -> None:
        discarded = KafkaConnectionError(f"producer of publisher {self.name} discarded")
        try:
            # Bounded: a request in flight to a vanished broker ends after request_timeout_ms.
            await asyncio.wait_for(
                _abort_producer(producer, discarded), 2 * self._request_timeout_ms / 1000
            )
        except (TimeoutError, KafkaError) as exc:
            log.warning(
                "publisher.producer_stop_failed name=%s error=%r", self.name, _describe(exc)
            )
        except Exception:
            # A discarded producer's cleanup going wrong inside aiokafka must not stop delivery:
            # the next producer shares nothing with it.
            log.exception("publisher.producer_stop_failed name=%s", self.name)

    def _on_drain_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "publisher.drain_crashed name=%s; events stay queued until a restart",
                self.name, exc_info=task.exception(),
            )


async def _abort_producer(producer: Any, exc: BaseException) -> None:
    """Stop a producer now, failing the batches it holds instead of waiting for them.

    aiokafka#1101: stop() waits for every pending batch, and an idempotent producer never gives
    up on one while the broker is away, so stop() alone can hang forever. The rows of these
    batches are still in the outbox, so failing them loses nothing. aiokafka has no public abort,
    so this takes its own sender-death path: end the sender first (so it cannot pick up a failed
    batch), fail the rest, then stop. The batches' drain waiters are read, or asyncio would log
    each failure as an exception never retrieved.
    """
    await producer._sender.close()
    accumulator = producer._message_accumulator
    batches = [batch for queue in accumulator._batches.values() for batch in queue]
    batches.extend(accumulator._pending_batches)
    accumulator.fail_all(exc)
    for batch in batches:
        _retrieve_outcome(batch._drain_waiter)
    await producer.stop()


async def _cancel_until_done(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it ends, cancelling it again while it goes on.

    One cancel can be lost: Python 3.11's `asyncio.wait_for` returns the inner result when the
    cancel arrives just as the inner awaitable finished (gh-86296), and aiokafka's client
    `close()` suppresses `CancelledError` around its own task. A drain loop that lost its cancel
    would retry forever and `stop()` would never return (a CI run hung 300 s here).
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RECANCEL_SECONDS)


def _retrieve_outcome(future: asyncio.Future[Any]) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError()
    return future.exception()


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    if not text:
        return name
    # aiokafka's messages often start with the class name already.
    return text if text.startswith(name) else f"{name}: {text}"
