"""Records sent to Kafka one aiokafka batch per topic partition, past Faust's per-record path.

Why it exists: Faust sends every record on its own way: a `FutureMessage`, its producer buffer,
aiokafka's `send` and a callback, each record. Measured on the Faust floor (`bench/faust_floor.py
--changelogs 2`, 200k backup events, this machine, two runs): two table writes per key and batch
through `Table.send_changelog` took the floor from 14,616-14,814 to 10,916-11,108 events/s (+22
us of CPU per event); the same records appended to one aiokafka `BatchBuilder` per partition and
handed over with `send_batch` left it at 14,192-14,757 (+0-1 us), also when waiting for Kafka's
acknowledgement. The pipelines' table changelogs (`streams.state`), their points
(`streams.sinks.topic`), alerts and dead letters go this way.

What it must not do: lose a record it was given, or reorder a partition's records. `send` hands
over everything pending in the order it was added, one batch after the other per partition
(aiokafka keeps one request in flight per partition), and returns once Kafka acknowledged all of
it. The records of a batch Kafka did not acknowledge stay pending, ahead of anything added later,
and the error is raised: the next `send` tries them again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer


@dataclass(frozen=True, slots=True)
class Pending:
    """One record not acknowledged yet; `partition` None: the producer's partitioner picks it
    from the key (as Faust's `topic.send` without a partition does)."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None


class KafkaBatches:
    """Records gathered until `send`, then sent as one aiokafka batch per topic partition."""

    def __init__(self, producer: Callable[[], AIOKafkaProducer]) -> None:
        self._producer = producer
        self.pending: list[Pending] = []

    def add(self, topic: str, partition: int | None, key: bytes | None,
            value: bytes | None) -> None:
        self.pending.append(Pending(topic, partition, key, value))

    async def send(self) -> None:
        """Send every pending record; return once Kafka acknowledged all (see the module)."""
        if not self.pending:
            return
        records, self.pending = self.pending, []
        try:
            failed, error = await self._send(self._producer(), records)
        except BaseException:  # cancelled: nothing of it counts as acknowledged
            self.pending = records + self.pending
            raise
        if failed:
            order = {id(record): n for n, record in enumerate(records)}
            failed.sort(key=lambda record: order[id(record)])
            self.pending = failed + self.pending
        if error is not None:
            raise error

    @staticmethod
    async def _send(producer: AIOKafkaProducer,
                    records: list[Pending]) -> tuple[list[Pending], Exception | None]:
        """Hand `records` over a batch per partition and wait for Kafka: the records it did not
        acknowledge, and the first error."""
        for topic in {record.topic for record in records if record.partition is None}:
            await producer.partitions_for(topic)  # its metadata, as `send` waits for it
        by_partition: dict[tuple[str, int], list[Pending]] = {}
        for record in records:
            partition = record.partition
            if partition is None:
                partition = _partition_of(producer, record)
            by_partition.setdefault((record.topic, partition), []).append(record)
        sent: list[tuple[list[Pending], asyncio.Future[Any]]] = []
        failed: list[Pending] = []
        error: Exception | None = None
        for (topic, partition), group in by_partition.items():
            if error is not None:
                failed.extend(group)
                continue
            unsent = group
            try:
                for builder, chunk in _batches(producer, group):
                    future = await producer.send_batch(builder, topic, partition=partition)
                    sent.append((chunk, future))
                    unsent = unsent[len(chunk):]
            except Exception as exc:
                error = exc
                failed.extend(unsent)
        outcomes = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        for (chunk, _), outcome in zip(sent, outcomes, strict=True):
            if isinstance(outcome, Exception):
                failed.extend(chunk)
                error = error or outcome
            elif isinstance(outcome, BaseException):
                raise outcome
        return failed, error


def _batches(producer: AIOKafkaProducer,
             records: list[Pending]) -> list[tuple[Any, list[Pending]]]:
    """`records` (of one partition) in as few aiokafka batches as the batch size allows."""
    chunks: list[tuple[Any, list[Pending]]] = []
    builder, held = producer.create_batch(), list[Pending]()
    for record in records:
        if builder.append(key=record.key, value=record.value, timestamp=None) is None:
            chunks.append((builder, held))
            builder, held = producer.create_batch(), []
            if builder.append(key=record.key, value=record.value, timestamp=None) is None:
                raise ValueError(f"a record of {len(record.value or b'')} bytes does not fit "
                                 "an empty producer batch")
        held.append(record)
    if held:
        chunks.append((builder, held))
    return chunks


def _partition_of(producer: AIOKafkaProducer, record: Pending) -> int:
    """The partition aiokafka's `send` would pick for `record` (its partitioner on the key;
    the topic's metadata must be known)."""
    partition: int = producer._partition(record.topic, None, None, None, record.key,
                                         record.value)
    return partition
