"""The local stack: real Kafka, PostgreSQL and TSDB answer; `stack down` leaves nothing behind."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.settings import Settings
from fleetstream.stack import Stack, services
from fleetstream.stack.process import port_open
from fleetstream.stack.services import Ports
from streams.sinks.influx import TsdbSink
from streams.sinks.line_protocol import line
from tests.integration.helpers import free_port, tsdb_export, wait_for


async def test_kafka_produce_consume_round_trip(stack_env: dict[str, str]) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        sent = [f"message-{i}".encode() for i in range(10)]
        for value in sent:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", group_id=f"g-{topic}")
    await consumer.start()
    try:
        received: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(received) < len(sent) and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                received.extend(m.value for m in messages if m.value is not None)
    finally:
        await consumer.stop()
    assert received == sent


async def test_postgres_accepts_a_connection_and_a_query(stack_env: dict[str, str]) -> None:
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        version = await conn.fetchval("SHOW server_version")
        assert int(version.split(".")[0]) >= 15
        assert await conn.fetchval("SELECT 40 + 2") == 42
    finally:
        await conn.close()


async def test_influx_client_writes_a_point_the_tsdb_returns(stack_env: dict[str, str]) -> None:
    settings = Settings.load(stack_env, dotenv=None)
    writer = TsdbSink(settings)
    probe = f"probe{uuid.uuid4().hex[:8]}"
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    point = line("stacktest", {"probe": probe}, {"value": 42.5}, at)
    assert point is not None
    try:
        await writer.write([point])
    finally:
        writer.close()

    async def exported() -> list[dict[str, object]]:
        return await asyncio.to_thread(
            tsdb_export, stack_env["INFLUX_URL"], f'{{__name__="stacktest_value",probe="{probe}"}}')

    series = await wait_for(exported, 20, 0.5, what="the point in the TSDB")
    assert series[0]["values"] == [42.5]
    assert series[0]["timestamps"] == [int(at.timestamp() * 1000)]


async def test_influx_client_writes_a_large_batch_in_requests_of_batch_max_lines(
        stack_env: dict[str, str]) -> None:
    settings = Settings.load({**stack_env, "BATCH_MAX_LINES": "3"}, dotenv=None)
    writer = TsdbSink(settings)
    probe = f"probe{uuid.uuid4().hex[:8]}"
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    points = [line("stacktest", {"probe": probe}, {"value": float(n)}, at + timedelta(seconds=n))
              for n in range(7)]  # three requests: 3 + 3 + 1 lines
    try:
        await writer.write(points)
    finally:
        writer.close()

    async def exported() -> list[dict[str, object]] | None:
        series = await asyncio.to_thread(
            tsdb_export, stack_env["INFLUX_URL"], f'{{__name__="stacktest_value",probe="{probe}"}}')
        return series if series and len(series[0]["values"]) == 7 else None  # type: ignore[arg-type]

    series = await wait_for(exported, 20, 0.5, what="all seven points in the TSDB")
    assert series[0]["values"] == [float(n) for n in range(7)]


def test_stack_down_leaves_nothing_and_up_again_reuses_the_jars(tmp_path: Path) -> None:
    ports = Ports(**{f.name: free_port() for f in fields(Ports)})
    stack = Stack(tmp_path / "stack", ports)
    assert stack.kafka.jars_cached(), "the session's stack resolved the jars already"
    marker = stack.kafka.jar_dir / ".complete"
    resolved_at = marker.stat().st_mtime
    try:
        stack.up()
        healthy, _ = stack.status()
        assert healthy
        pids = [s.process.pid() for s in stack.services]
        assert all(pids)
        assert stack.up()  # idempotent: a second `up` finds everything running
        assert [s.process.pid() for s in stack.services] == pids
        written = stack.env_file.read_text()
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "INFLUX_URL", "INFLUXDB1_URL",
                     "PROMETHEUS_URL", "ALERTMANAGER_URL"):
            assert f"export {name}=" in written
        assert not stack.secure_env_file.exists(), "no SASL_SSL settings without --secure"
    finally:
        stack.down()
    for port in (getattr(ports, f.name) for f in fields(Ports)):
        assert not port_open("127.0.0.1", port), f"port {port} still open after stack down"
    for pid in pids:
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert not stack.env_file.exists()
    assert marker.stat().st_mtime == resolved_at, "jars were resolved again"


def test_regression_cluster_id_starting_with_a_dash_formats_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0xF8 encodes to "-" in URL-safe base64: the id once reached StorageTool as an option.
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(range(15)))
    monkeypatch.setattr("fleetstream.stack.services.uuid.uuid4", lambda: dash_first)
    kafka = services.Kafka(tmp_path, Ports(kafka=free_port(), kafka_controller=free_port()))
    kafka.prepare()
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()
    assert "cluster.id=-" in meta
