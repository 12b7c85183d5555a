"""`streams.kafka_batches` against the real broker: what it sends arrives where and in the order
Faust's own sends would put it, and what the broker refuses stays pending, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streams.kafka_batches import KafkaBatches, Pending
from tests.integration.helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def kafka(stack_env: dict[str, str]) -> AsyncIterator[tuple[str, AIOKafkaProducer]]:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10,
                                max_batch_size=1024 * 1024, request_timeout_ms=10_000)
    await producer.start()
    try:
        yield bootstrap, producer
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, partitions: int, **configs: str) -> str:
    name = unique("batches_")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    finally:
        await admin.close()
    return name


async def read_all(bootstrap: str, topic: str, partitions: int,
                   count: int) -> dict[int, list[tuple[bytes | None, bytes | None]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        found: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        seen = 0
        while seen < count:
            fetched = await consumer.getmany(timeout_ms=10_000)
            assert fetched, f"only {seen} of {count} records arrived"
            for tp, records in fetched.items():
                found.setdefault(tp.partition, []).extend((r.key, r.value) for r in records)
                seen += len(records)
        return found
    finally:
        await consumer.stop()


async def test_records_arrive_in_order_where_faust_would_put_them(
        kafka: tuple[str, AIOKafkaProducer]) -> None:
    bootstrap, producer = kafka
    topic = await create_topic(bootstrap, 4)
    batches = KafkaBatches(lambda: producer)
    # Enough records for several aiokafka batches on one partition (1 MiB each).
    explicit = [(f"k{n}".encode(), bytes(1000) + n.to_bytes(4, "big")) for n in range(3000)]
    for key, value in explicit:
        batches.add(topic, 2, key, value)
    batches.add(topic, 3, b"gone", None)  # a tombstone
    keyed = [(f"subject-{n}".encode(), f"v{n}".encode()) for n in range(200)]
    for key, value in keyed:
        batches.add(topic, None, key, value)

    await batches.send()
    assert batches.pending == []

    found = await read_all(bootstrap, topic, 4, len(explicit) + 1 + len(keyed))
    expected: dict[int, list[tuple[bytes | None, bytes | None]]] = {2: list(explicit),
                                                                   3: [(b"gone", None)]}
    for key, value in keyed:  # the partition aiokafka's own send picks for the key
        expected.setdefault(producer._partition(topic, None, None, None, key, value),
                            []).append((key, value))
    assert found == expected


async def test_what_the_broker_refuses_stays_pending_in_order(
        kafka: tuple[str, AIOKafkaProducer]) -> None:
    bootstrap, producer = kafka
    topic = await create_topic(bootstrap, 2, **{"max.message.bytes": "2000"})
    batches = KafkaBatches(lambda: producer)
    small, large, other = (Pending(topic, 0, b"a", b"1"), Pending(topic, 0, b"b", bytes(5000)),
                           Pending(topic, 1, b"c", b"3"))
    for record in (small, large, other):
        batches.add(record.topic, record.partition, record.key, record.value)

    with pytest.raises(KafkaError):
        await batches.send()
    # Partition 0's batch (the small record with the large one) was refused as a whole, and
    # stays pending in the order it was added; partition 1's was acknowledged.
    assert batches.pending == [small, large]
    assert await read_all(bootstrap, topic, 2, 1) == {1: [(b"c", b"3")]}

    # Once the broker takes it, the next send delivers the refused records first.
    later = Pending(topic, 0, b"d", b"4")
    batches.add(later.topic, later.partition, later.key, later.value)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                  configs={"max.message.bytes": "100000"})])
    finally:
        await admin.close()
    await batches.send()
    assert batches.pending == []
    found = await read_all(bootstrap, topic, 2, 4)
    assert found == {0: [(b"a", b"1"), (b"b", bytes(5000)), (b"d", b"4")], 1: [(b"c", b"3")]}
