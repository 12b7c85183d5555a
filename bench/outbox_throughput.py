"""What the durable outbox costs: events/s through Publisher vs a raw AIOKafkaProducer.

Why it exists: every producer publishes through the outbox, so its overhead over a bare producer
must stay known. Runs against the real broker of the local stack (`.stack/env`, or
KAFKA_BOOTSTRAP_SERVERS): it creates throw-away topics, sends the same events three ways, checks
that every event landed, and prints events/s for each and the ratio to the raw baseline.

    python bench/outbox_throughput.py [--events 50000] [--size 600] [--partitions 8]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.settings import Settings, read_dotenv
from producers.publisher import Publisher

REPO = Path(__file__).resolve().parents[1]
MAX_BATCH_SIZE = 512 * 1024
LINGER_MS = 5

Event = tuple[bytes, bytes]


def make_events(count: int, size: int) -> list[Event]:
    """Node-snapshot-like JSON events of about `size` bytes, keyed over 50 node ids."""
    events = []
    for i in range(count):
        node = f"node-{i % 50:02d}"
        body = {
            "event_id": str(uuid.uuid4()),
            "schema": "node.snapshot/1",
            "source": "bench",
            "ts": "2025-01-01T00:00:00Z",
            "node_id": node,
            "seq": i,
            "pad": "",
        }
        body["pad"] = "x" * max(0, size - len(orjson.dumps(body)))
        events.append((node.encode(), orjson.dumps(body)))
    return events


async def raw_producer(bootstrap: str, topic: str, events: list[Event]) -> float:
    """Seconds for a bare idempotent producer to get every event acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
        max_batch_size=MAX_BATCH_SIZE, linger_ms=LINGER_MS,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, key=key, value=value) for key, value in events]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def through_outbox(
    settings: Settings, topic: str, events: list[Event], chunk: int
) -> float:
    """Seconds from the first publish until the outbox is empty (every event acknowledged)."""
    publisher = Publisher(f"bench-{uuid.uuid4().hex[:8]}", settings,
                          max_batch_size=MAX_BATCH_SIZE, linger_ms=LINGER_MS)
    await publisher.start()
    try:
        await wait_connected(publisher)
        started = time.perf_counter()
        if chunk == 1:
            for key, value in events:
                await publisher.publish(topic, key, value)
        else:
            for i in range(0, len(events), chunk):
                await publisher.publish_many(
                    [(topic, key, value) for key, value in events[i : i + chunk]]
                )
        if not await publisher.flush(300):
            raise RuntimeError("outbox did not drain within 300 s")
        return time.perf_counter() - started
    finally:
        await publisher.stop(flush_timeout=5)


async def wait_connected(publisher: Publisher, timeout: float = 30.0) -> None:
    """Keep the connection time out of the measurement, as for the raw producer's start()."""
    for _ in range(int(timeout / 0.05)):
        if (await publisher.stats()).connected:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"publisher not connected after {timeout} s")


async def count_records(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        offsets = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return int(sum(offsets.values()))
    finally:
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=600, help="approximate event bytes")
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    # Fresh topics elect their leaders while the first batches go out; aiokafka retries those
    # and warns on each, which is noise here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    env_file = REPO / ".stack" / "env"
    environ = {**os.environ, **(read_dotenv(env_file) if env_file.is_file() else {})}
    with tempfile.TemporaryDirectory(prefix="fleetstream-bench-") as data_dir:
        await run_all(args, environ, data_dir)


async def run_all(args: argparse.Namespace, environ: dict[str, str], data_dir: str) -> None:
    settings = Settings.load(
        {**environ, "FLEETSTREAM_DATA_DIR": data_dir,
         "FLEETSTREAM_OUTBOX_MAX_EVENTS": str(args.events * 2),
         "FLEETSTREAM_OUTBOX_MAX_BYTES": str(args.events * args.size * 4)},
        dotenv=None,
    )
    bootstrap = settings.kafka_bootstrap_servers
    events = make_events(args.events, args.size)
    mean_size = sum(len(k) + len(v) for k, v in events) / len(events)
    run_id = uuid.uuid4().hex[:8]
    runs: list[tuple[str, str, Callable[[str], Awaitable[float]]]] = [
        ("raw AIOKafkaProducer", f"bench.raw.{run_id}",
         lambda topic: raw_producer(bootstrap, topic, events)),
        ("outbox, publish() per event", f"bench.outbox1.{run_id}",
         lambda topic: through_outbox(settings, topic, events, 1)),
        ("outbox, publish_many(100)", f"bench.outbox100.{run_id}",
         lambda topic: through_outbox(settings, topic, events, 100)),
    ]

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    topics = [topic for _, topic, _ in runs]
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=args.partitions, replication_factor=1)
             for topic in topics]
        )
        print(f"{args.events} events, {mean_size:.0f} bytes each, {args.partitions} partitions, "
              f"broker {bootstrap}, acks=all, idempotent")
        baseline = 0.0
        for label, topic, run in runs:
            seconds = await run(topic)
            landed = await count_records(bootstrap, topic, args.partitions)
            if landed != args.events:
                raise RuntimeError(f"{label}: {landed} records in {topic}, expected {args.events}")
            rate = args.events / seconds
            baseline = baseline or rate
            print(f"{label:30s} {rate:10,.0f} events/s {rate * mean_size / 1e6:7.1f} MB/s "
                  f"{seconds:6.2f} s  ratio {rate / baseline:.2f}")
    finally:
        await admin.delete_topics(topics)
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
