"""The publisher against the real broker: nothing lost or doubled, never in the caller's way."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.settings import Settings
from fleetstream.stack.services import Kafka
from producers.publisher import Publisher, PublisherError
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.integration

UNREACHABLE = "127.0.0.1:1"

CreateTopic = Callable[[str, int], Awaitable[None]]


@pytest.fixture
def bootstrap(stack_env: dict[str, str]) -> str:
    return stack_env["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture
async def create_topic(bootstrap: str) -> AsyncIterator[CreateTopic]:
    """Creates topics (auto-creation is off on the broker) and deletes them after the test."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(name: str, partitions: int) -> None:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        created.append(name)

    try:
        yield create
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()


def settings_for(bootstrap: str, data_dir: Path, **overrides: str) -> Settings:
    return Settings.load(
        {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "FLEETSTREAM_DATA_DIR": str(data_dir), **overrides},
        dotenv=None,
    )


def unique_topic() -> str:
    return f"test.publisher.{uuid.uuid4().hex[:10]}"


def events(count: int, keys: int = 5) -> list[tuple[bytes, bytes]]:
    """Encoded events as producers make them: a stable event_id inside, a per-key sequence."""
    return [
        (
            f"node-{i % keys}".encode(),
            orjson.dumps({"event_id": str(uuid.uuid4()), "node_id": f"node-{i % keys}", "seq": i}),
        )
        for i in range(count)
    ]


async def consume(bootstrap: str, topic: str, partitions: int, expect: int,
                  timeout: float = 30.0) -> list[tuple[bytes, bytes]]:
    """Every record of `topic` (by partition, in offset order), checking there are no extras."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning()
        records: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend((m.key, m.value) for m in messages)
        end_offsets = await consumer.end_offsets(assigned)
        assert sum(end_offsets.values()) == expect, f"{topic} holds {end_offsets}"
        return records
    finally:
        await consumer.stop()


def assert_per_key_order(received: list[tuple[bytes, bytes]], sent: list[tuple[bytes, bytes]]
                         ) -> None:
    """Each key's events arrived exactly once and in the order they were published."""
    by_key: dict[bytes, list[bytes]] = {}
    for key, value in received:
        by_key.setdefault(key, []).append(value)
    expected: dict[bytes, list[bytes]] = {}
    for key, value in sent:
        expected.setdefault(key, []).append(value)
    assert by_key == expected


async def test_published_events_arrive_exactly_once_in_order_and_leave_the_outbox(
    bootstrap: str, create_topic: CreateTopic, tmp_path: Path
) -> None:
    topic = unique_topic()
    await create_topic(topic, 4)
    sent = events(500)
    publisher = Publisher("node-agent", settings_for(bootstrap, tmp_path))
    await publisher.start()
    try:
        for key, value in sent[:200]:
            await publisher.publish(topic, key, value)
        await publisher.publish_many([(topic, key, value) for key, value in sent[200:]])

        assert await publisher.flush(30.0)

        stats = await publisher.stats()
        assert (stats.depth, stats.bytes, stats.dropped) == (0, 0, 0)
        assert stats.oldest_enqueued_at is None
    finally:
        await publisher.stop()

    received = await consume(bootstrap, topic, 4, expect=len(sent))
    assert_per_key_order(received, sent)


async def test_events_wait_in_the_outbox_until_their_topic_is_created(
    bootstrap: str, create_topic: CreateTopic, tmp_path: Path
) -> None:
    topic = unique_topic()
    sent = events(20, keys=1)
    publisher = Publisher(
        "vm-agent", settings_for(bootstrap, tmp_path),
        request_timeout_ms=1000, retry_backoff_initial=0.1, retry_backoff_max=0.5,
    )
    await publisher.start()
    try:
        await publisher.publish_many([(topic, key, value) for key, value in sent])

        assert not await publisher.flush(2.5)
        stats = await publisher.stats()
        assert stats.depth == 20
        assert stats.last_error is not None and "UnknownTopicOrPartition" in stats.last_error

        await create_topic(topic, 1)
        assert await publisher.flush(30.0)
    finally:
        await publisher.stop()

    assert await consume(bootstrap, topic, 1, expect=20) == sent


async def test_a_restarted_publisher_delivers_what_the_previous_one_left_behind(
    bootstrap: str, create_topic: CreateTopic, tmp_path: Path
) -> None:
    topic = unique_topic()
    await create_topic(topic, 1)
    sent = events(50, keys=1)
    before_restart = Publisher("backup-reporter", settings_for(UNREACHABLE, tmp_path))
    await before_restart.start()
    await before_restart.publish_many([(topic, key, value) for key, value in sent])
    assert not await before_restart.stop(flush_timeout=0.2)

    after_restart = Publisher("backup-reporter", settings_for(bootstrap, tmp_path))
    await after_restart.start()
    try:
        assert (await after_restart.stats()).depth == 50
        assert await after_restart.flush(30.0)
    finally:
        await after_restart.stop()

    assert await consume(bootstrap, topic, 1, expect=50) == sent


async def test_an_unreachable_broker_keeps_events_queued_without_slowing_publish(
    tmp_path: Path,
) -> None:
    publisher = Publisher(
        "heartbeat", settings_for(UNREACHABLE, tmp_path),
        retry_backoff_initial=0.05, retry_backoff_max=0.2,
    )
    await publisher.start()
    try:
        latencies = []
        for key, value in events(200):
            started = time.perf_counter()
            await publisher.publish("telemetry.heartbeat", key, value)
            latencies.append(time.perf_counter() - started)
        # The drain task fails connection attempts while publishing continues.
        async def failed_to_connect() -> bool:
            return (await publisher.stats()).last_error is not None

        await wait_for(failed_to_connect, 30, 0.05, what="a failed connection attempt")
        started = time.perf_counter()
        await publisher.publish("telemetry.heartbeat", b"late", b"{}")
        latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        assert not await publisher.flush(1.0)
        assert 0.9 < time.perf_counter() - started < 5.0

        stats = await publisher.stats()
        assert stats.depth == 201
        assert not stats.connected
        assert stats.last_error is not None and "KafkaConnectionError" in stats.last_error
        # Bounds for a loaded 2-core machine; a publish that waited on Kafka would take the
        # 10 s request timeout.
        assert statistics.median(latencies) < 0.05
        assert max(latencies) < 0.5
    finally:
        started = time.perf_counter()
        await publisher.stop(flush_timeout=0.1)
        assert time.perf_counter() - started < 5.0


async def test_dropped_events_are_counted_logged_and_remembered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(UNREACHABLE, tmp_path, FLEETSTREAM_OUTBOX_MAX_EVENTS="5")
    publisher = Publisher("node-agent", settings)
    await publisher.start()
    with caplog.at_level(logging.WARNING, logger="producers.publisher"):
        for key, value in events(8):
            await publisher.publish("telemetry.node", key, value)
    await publisher.stop(flush_timeout=0.1)

    assert (await asyncio.wait_for(_dropped_after_restart(settings), 10)) == 3
    dropped_lines = [r.getMessage() for r in caplog.records if "outbox.dropped" in r.getMessage()]
    assert dropped_lines[-1].startswith("outbox.dropped total=3 ")
    assert "name=node-agent" in dropped_lines[-1]


async def _dropped_after_restart(settings: Settings) -> int:
    publisher = Publisher("node-agent", settings)
    await publisher.start()
    try:
        return (await publisher.stats()).dropped
    finally:
        await publisher.stop(flush_timeout=0.1)


async def test_a_crashed_drain_task_is_loud_and_keeps_the_events(
    bootstrap: str, create_topic: CreateTopic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = unique_topic()
    await create_topic(topic, 1)
    publisher = Publisher("vm-agent", settings_for(bootstrap, tmp_path))

    async def broken_peek(limit: int) -> list[object]:
        raise RuntimeError("a bug in the drain path")

    monkeypatch.setattr(publisher._outbox, "peek", broken_peek)
    await publisher.start()
    await publisher.publish(topic, b"k", b"{}")

    with pytest.raises(PublisherError, match="unexpected error"):
        await publisher.flush(5.0)
    with pytest.raises(PublisherError):
        await publisher.publish(topic, b"k", b"{}")
    await publisher.stop(flush_timeout=0.1)

    restarted = Publisher("vm-agent", settings_for(bootstrap, tmp_path))
    await restarted.start()
    try:
        assert await restarted.flush(30.0)
    finally:
        await restarted.stop()
    assert await consume(bootstrap, topic, 1, expect=1) == [(b"k", b"{}")]


async def test_a_broker_vanishing_mid_delivery_neither_hangs_nor_loses_events_aiokafka_1101(
    private_kafka: Kafka, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """An idempotent aiokafka producer retries a batch forever, and its stop() waits for it.

    A real broker (the test's own) stops after the publisher connected. The publisher must
    notice the stall, replace its producer and stop without hanging; once the broker is back,
    everything arrives (resends may duplicate, the stream workers drop repeated event ids).
    """
    bootstrap = private_kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    topic = unique_topic()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    sent = events(100, keys=3)
    publisher = Publisher("node-agent", settings_for(bootstrap, tmp_path),
                          request_timeout_ms=1000, retry_backoff_initial=0.1,
                          retry_backoff_max=0.2)
    await publisher.start()
    await publisher.publish(topic, *sent[0])
    assert await publisher.flush(30.0)

    await asyncio.to_thread(private_kafka.stop)
    await publisher.publish_many([(topic, key, value) for key, value in sent[1:]])
    assert not await publisher.flush(3.0)
    stats = await publisher.stats()
    assert stats.depth == len(sent) - 1 and stats.last_error is not None, stats
    started = time.perf_counter()
    await publisher.stop(flush_timeout=0.1)
    assert time.perf_counter() - started < 10.0, "stop() hung on the unacknowledged batch"

    await asyncio.to_thread(private_kafka.start)
    restarted = Publisher("node-agent", settings_for(bootstrap, tmp_path))
    await restarted.start()
    try:
        assert await restarted.flush(60.0)
    finally:
        await restarted.stop()

    received = await consume_everything(bootstrap, topic, 2)
    first_seen: list[tuple[bytes, bytes]] = []
    for record in received:
        if record not in first_seen:
            first_seen.append(record)
    assert_per_key_order(first_seen, sent)
    complaints = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in complaints if "producer_stop_failed" in m or "never retrieved" in m]


async def consume_everything(bootstrap: str, topic: str, partitions: int
                             ) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning()
        total = sum((await consumer.end_offsets(assigned)).values())
        records: list[tuple[bytes, bytes]] = []
        while len(records) < total:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend((m.key, m.value) for m in messages)
        return records
    finally:
        await consumer.stop()
