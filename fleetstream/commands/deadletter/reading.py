"""Reading the dead-letter topic without a consumer group: a bounded scan, and fetch by offset.

Why it exists: an operator's look at the dead letters must not join, rebalance or commit for any
consumer group (the stream workers' least of all), must not run forever on a topic that keeps
growing, and must survive records that are not dead letters at all. So: a group-less consumer
assigns the partitions itself, starts each at the first offset of `--since`
(`offsets_for_times`), reads up to the end offsets captured when it started, and gives up at a
deadline, saying that the result is incomplete.

What it must not do: write anything, or decide what a dead letter means (see `redrive`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas.deadletter import DeadLetter

_POLL_MS = 500
_UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


class RawPayloadError(ValueError):
    """A dead letter's `raw` cannot be turned back into the original bytes."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the dead-letter topic: where it is, its key, and the dead letter in it.

    `letter` is None (and `problem` says why) when the value is not a `DeadLetter`.
    """

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    letter: DeadLetter | None
    problem: str | None = None

    @property
    def address(self) -> str:
        """`PARTITION:OFFSET`, what `deadletter redrive --offset` takes."""
        return f"{self.partition}:{self.offset}"

    @property
    def at(self) -> datetime:
        """When the input was rejected (the record's time for a value that is no dead letter)."""
        if self.letter is not None:
            return self.letter.at
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def original(self) -> bytes:
        """The rejected input's bytes exactly as they arrived; RawPayloadError if unrecoverable."""
        if self.letter is None:
            raise RawPayloadError(f"not a dead letter ({self.problem})")
        if self.letter.raw_truncated:
            raise RawPayloadError(f"raw keeps only the first {len(self.letter.raw)} characters "
                                  f"of {self.letter.raw_bytes} bytes")
        if self.letter.raw_encoding == "utf-8":
            return self.letter.raw.encode("utf-8")
        if self.letter.raw_encoding == "base64":
            try:
                return base64.b64decode(self.letter.raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise RawPayloadError(f"raw is not valid base64 ({exc})") from None
        raise RawPayloadError(f"unknown raw_encoding {self.letter.raw_encoding[:40]!r}")


def to_record(message: Any) -> Record:
    """An aiokafka ConsumerRecord of the dead-letter topic -> `Record` (never raises)."""
    value: bytes = message.value or b""
    letter: DeadLetter | None = None
    problem: str | None = None
    try:
        letter = DeadLetter.model_validate_json(value)
    except ValidationError as exc:
        problem = f"not a dead-letter record: {exc.errors()[0]['msg']}"
    return Record(partition=message.partition, offset=message.offset,
                  timestamp_ms=message.timestamp, key=message.key, value=value, letter=letter,
                  problem=problem)


@dataclass
class Scan:
    """The records a scan kept, oldest first, and whether it read everything it meant to."""

    records: list[Record]
    complete: bool
    topic_exists: bool = True
    unread: dict[int, int] = field(default_factory=dict)
    """Partition -> records not read before the deadline (empty when complete)."""


async def _consumer(bootstrap: str, deadline: float) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="fleetstream-deadletter")
    try:
        await asyncio.wait_for(consumer.start(), max(0.1, deadline - time.monotonic()))
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def _partitions(bootstrap: str, topic: str, deadline: float) -> list[TopicPartition] | None:
    """The partitions of `topic`, None when it does not exist (asked of the cluster: a
    consumer's own metadata knows only the topics it subscribed to)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="fleetstream-deadletter")
    try:
        await asyncio.wait_for(admin.start(), max(0.1, deadline - time.monotonic()))
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] == _UNKNOWN_TOPIC:
        return None
    if described["error_code"] != 0:
        raise KafkaError(f"describing {topic} failed with Kafka error {described['error_code']}")
    return sorted((TopicPartition(topic, p["partition"]) for p in described["partitions"]),
                  key=lambda tp: tp.partition)


async def scan(
    bootstrap: str,
    topic: str,
    *,
    since: datetime | None,
    matches: Callable[[Record], bool],
    newest: int | None,
    unfiltered: bool,
    timeout: float,
) -> Scan:
    """The records of `topic` from `since` to the end offsets of now that `matches` accepts.

    `newest` keeps only that many, the most recent; when `unfiltered` (every record matches),
    each partition is then read from `newest` before its end only. Stops at `timeout` seconds
    with `complete=False`.
    """
    deadline = time.monotonic() + timeout
    partitions = await _partitions(bootstrap, topic, deadline)
    if partitions is None:
        return Scan([], complete=True, topic_exists=False)
    consumer = await _consumer(bootstrap, deadline)
    try:
        if not partitions:
            return Scan([], complete=True)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        since_ms = None if since is None else int(since.timestamp() * 1000)
        if since_ms is not None:
            found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
            starts = {tp: ends[tp] if found[tp] is None else found[tp].offset
                      for tp in partitions}
        if newest is not None and unfiltered:
            starts = {tp: max(starts[tp], ends[tp] - newest) for tp in partitions}
        pending = {tp for tp in partitions if starts[tp] < ends[tp]}
        kept: list[tuple[int, int, int, Record]] = []
        if pending:
            consumer.assign(sorted(pending, key=lambda tp: tp.partition))
            for tp in pending:
                consumer.seek(tp, starts[tp])
            await _read(consumer, pending, ends, deadline, _keeper(kept, since_ms, matches,
                                                                    newest))
        unread = {tp.partition: ends[tp] - await consumer.position(tp) for tp in pending}
        records = [entry[3] for entry in sorted(kept)]
        return Scan(records, complete=not pending, unread=unread)
    finally:
        await consumer.stop()


def _keeper(kept: list[tuple[int, int, int, Record]], since_ms: int | None,
            matches: Callable[[Record], bool], newest: int | None) -> Callable[[Record], None]:
    """Adds matching records to the heap `kept`, holding at most `newest` (the most recent)."""

    def keep(record: Record) -> None:
        if since_ms is not None and record.timestamp_ms < since_ms:
            return  # producer timestamps are not ordered within a partition
        if not matches(record):
            return
        entry = (record.timestamp_ms, record.partition, record.offset, record)
        if newest is None:
            kept.append(entry)
        elif len(kept) < newest:
            heapq.heappush(kept, entry)
        else:
            heapq.heappushpop(kept, entry)

    return keep


async def _read(consumer: AIOKafkaConsumer, pending: set[TopicPartition],
                ends: dict[TopicPartition, int], deadline: float,
                keep: Callable[[Record], None]) -> None:
    """Read each pending partition up to its end offset (removing it from `pending`)."""
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        batch = await consumer.getmany(*pending, timeout_ms=int(min(_POLL_MS, remaining * 1000)))
        for tp, messages in batch.items():
            for message in messages:
                if message.offset < ends[tp]:
                    keep(to_record(message))
        for tp in list(pending):
            # Offsets may have gaps (transaction markers, compaction): the position decides.
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
                consumer.pause(tp)


@dataclass
class Fetched:
    """The records found at the asked addresses, and the addresses with no record."""

    records: list[Record]
    missing: list[tuple[tuple[int, int], str]]


async def fetch(bootstrap: str, topic: str, addresses: Sequence[tuple[int, int]],
                timeout: float) -> Fetched:
    """The records at these (partition, offset) addresses of `topic`, in the order asked."""
    deadline = time.monotonic() + timeout
    partitions = await _partitions(bootstrap, topic, deadline)
    if partitions is None:
        return Fetched([], [(address, f"topic {topic} does not exist") for address in addresses])
    consumer = await _consumer(bootstrap, deadline)
    try:
        known = {tp.partition: tp for tp in partitions}
        asked = [known[p] for p in sorted({p for p, _ in addresses}) if p in known]
        ends = await consumer.end_offsets(asked) if asked else {}
        begins = await consumer.beginning_offsets(asked) if asked else {}
        found: dict[tuple[int, int], Record] = {}
        missing: list[tuple[tuple[int, int], str]] = []
        for partition, offset in dict.fromkeys(addresses):
            tp = known.get(partition)
            if tp is None:
                missing.append(((partition, offset), f"{topic} has no partition {partition}"))
            elif not begins[tp] <= offset < ends[tp]:
                missing.append(((partition, offset), f"partition {partition} holds offsets "
                                f"{begins[tp]} to {ends[tp] - 1} only"))
            else:
                record = await _one(consumer, tp, offset, deadline)
                if record is None:
                    missing.append(((partition, offset), "no record at that offset (compacted, "
                                    "a transaction marker, or the read timed out)"))
                else:
                    found[(partition, offset)] = record
        return Fetched([found[a] for a in dict.fromkeys(addresses) if a in found], missing)
    finally:
        await consumer.stop()


async def _one(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int,
               deadline: float) -> Record | None:
    consumer.assign([tp])
    consumer.seek(tp, offset)
    while (remaining := deadline - time.monotonic()) > 0:
        batch = await consumer.getmany(tp, timeout_ms=int(min(_POLL_MS, remaining * 1000)),
                                       max_records=1)
        messages = batch.get(tp)
        if messages:
            message = messages[0]
            return to_record(message) if message.offset == offset else None
    return None
