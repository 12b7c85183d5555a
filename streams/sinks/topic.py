"""A Kafka topic as a sink: derived records (the TSDB's points) written with the batch.

Why it exists: the TSDB must never hold the PostgreSQL projections back, and must still get every
point after an outage. So a pipeline writes its points to the points topic (a fast, durable,
always-local write), and the TSDB pipeline (`streams.agents.tsdb`) drains that topic into the
TSDB with offsets of its own. The records go a batch per partition (`streams.kafka_batches`),
partitioned by key as Faust's `topic.send` partitions them. `classify` decides what a producer
error means: a record larger than the broker takes is rejected, every other Kafka error is the
broker being unavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from streams.kafka_batches import KafkaBatches
from streams.pipeline.sink import Sink, SinkRejected, SinkUnavailable, classified
from streams.sinks.message import Message

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer


def classify(exc: BaseException) -> SinkUnavailable | SinkRejected | None:
    if isinstance(exc, (MessageSizeTooLargeError, RecordTooLargeError)):
        return SinkRejected(f"Kafka refused the record: {type(exc).__name__}: {exc}")
    if isinstance(exc, (KafkaError, OSError, asyncio.TimeoutError)):
        return SinkUnavailable(f"Kafka unavailable: {type(exc).__name__}: {exc}")
    return None


Combine = Callable[[Sequence[Message]], Sequence[Message]]


class TopicSink(Sink):
    """Sends `streams.sinks.message.Message`s to a topic, `combine`d into the records written
    (as they are, by default); returns once Kafka acknowledged all."""

    def __init__(self, topic: str, name: str, producer: Callable[[], AIOKafkaProducer],
                 combine: Combine = list) -> None:
        self.topic = topic
        self.name = name
        self.producer = producer
        self.combine = combine

    async def write(self, records: Sequence[Any]) -> None:
        # A batch of its own each write: what Kafka refused is the runtime's to retry or reject.
        batches = KafkaBatches(self.producer)
        for message in self.combine(records):
            batches.add(self.topic, None, message.key, message.value)
        with classified(classify):
            await batches.send()
