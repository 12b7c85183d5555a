"""Seed 000's `telemetry_history` row (API units: MiB, GiB, MiB/s) and the `node` point."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.node import DiskUsage, NodeRates, NodeSnapshot
from streams.projections.node import HISTORY, fields, history_row, points
from streams.projections.rows import Row
from streams.sinks.message import Message

AT = datetime(2025, 10, 10, 14, 35, 42, 123456, tzinfo=UTC)
MIB, GIB = 1024 * 1024, 1024 * 1024 * 1024


def snapshot(**values: Any) -> NodeSnapshot:
    return NodeSnapshot(event_id=uuid.uuid4(), source="test", ts=AT, node_id="node-1",
                        cpu_percent=12.5, memory_percent=50.0, **values)


FULL = dict(
    memory_used_bytes=1536 * MIB + 1, memory_total_bytes=3 * MIB - 1,
    disks=[DiskUsage(mount="/data", used_bytes=1, total_bytes=2, percent=50.0),
           DiskUsage(mount="/", used_bytes=5 * GIB, total_bytes=20 * GIB, percent=25.0)],
    network_rx_bytes=1000, network_tx_bytes=2000, uptime_seconds=3600.6, process_count=120,
    active_connections=7, load_avg_1m=0.5, load_avg_5m=0.25, load_avg_15m=0.125,
    outbox_dropped_total=3)
RATES = NodeRates(rx_bytes_per_second=2.5 * MIB, tx_bytes_per_second=MIB / 4)


def test_the_history_row_is_in_the_seed_api_units() -> None:
    # By hand: 1536 MiB + 1 byte -> 1536 MiB, 3 MiB - 1 byte -> 3 MiB (rounded, not cut), the
    # "/" disk (not the first) 5 of 20 GiB, 2.5 and 0.25 MiB/s, uptime rounded to 3601 s.
    assert history_row(snapshot(**FULL), RATES) == Row(HISTORY, (
        "node-1", AT, 12.5, 50.0, 1536, 3, 25.0, 5.0, 20.0, 1000, 2000, 2.5, 0.25, 3601, 120,
        7, 0.5, 0.25, 0.125))


def test_what_the_node_did_not_report_stays_null() -> None:
    assert history_row(snapshot(), NodeRates()).values == (
        "node-1", AT, 12.5, 50.0, *[None] * 15)


def test_the_history_table_skips_a_redelivered_snapshot() -> None:
    assert HISTORY.sql.endswith(" ON CONFLICT (node_id, timestamp) DO NOTHING")
    assert [name for name, _ in HISTORY.columns] == [
        "node_id", "timestamp", "cpu_percent", "memory_percent", "memory_used_mb",
        "memory_total_mb", "disk_percent", "disk_used_gb", "disk_total_gb", "network_rx_bytes",
        "network_tx_bytes", "network_rx_rate_mbps", "network_tx_rate_mbps", "uptime_seconds",
        "process_count", "active_connections", "load_avg_1m", "load_avg_5m", "load_avg_15m"]
    assert [kind for _, kind in HISTORY.columns] == [
        "text", "timestamptz", "float8", "float8", "int8", "int8", "float8", "float8", "float8",
        "int8", "int8", "float8", "float8", "int8", "int4", "int4", "float8", "float8", "float8"]


def test_the_point_fields_are_in_bytes() -> None:
    assert fields(snapshot(**FULL), RATES) == {
        "cpu_percent": 12.5, "memory_percent": 50.0, "memory_used_bytes": 1536 * MIB + 1,
        "memory_total_bytes": 3 * MIB - 1, "disk_percent": 25.0, "disk_used_bytes": 5 * GIB,
        "disk_total_bytes": 20 * GIB, "network_rx_bytes": 1000, "network_tx_bytes": 2000,
        "network_rx_bytes_per_second": 2.5 * MIB, "network_tx_bytes_per_second": MIB / 4,
        "uptime_seconds": 3600.6, "process_count": 120, "active_connections": 7,
        "load_avg_1m": 0.5, "load_avg_5m": 0.25, "load_avg_15m": 0.125,
        "outbox_dropped_total": 3}
    no_disk = fields(snapshot(), NodeRates())
    assert {key for key, value in no_disk.items() if value is not None} == {
        "cpu_percent", "memory_percent"}
    assert len(no_disk) == 18


def test_one_node_point_per_snapshot_at_its_event_time() -> None:
    # Line protocol by hand: tag node_id, fields sorted, None fields left out.
    assert points("node-1", [(snapshot(), NodeRates()), (snapshot(process_count=4), RATES)]) == (
        Message(b"node-1", (
            b"node,node_id=node-1 cpu_percent=12.5,memory_percent=50.0 1760106942123456000\n"
            b"node,node_id=node-1 cpu_percent=12.5,memory_percent=50.0,"
            b"network_rx_bytes_per_second=2621440.0,network_tx_bytes_per_second=262144.0,"
            b"process_count=4i 1760106942123456000")))
    assert points("node-1", []) is None
