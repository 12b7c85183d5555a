"""Seed 001's WebSocket messages from NodeSnapshots (schemas.adapters.seed_ws)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from schemas.adapters.node import GIB, MIB
from schemas.adapters.seed_ws import metrics_message, seed_timestamp, welcome
from schemas.node import NO_RATES, DiskUsage, NodeRates, NodeSnapshot
from tests.data.seed_ws import assert_seed_message, assert_welcome

AT = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)


def snapshot(**overrides: object) -> NodeSnapshot:
    fields: dict[str, object] = {
        "event_id": uuid.uuid4(), "source": "t", "ts": AT, "node_id": "192.168.100.27",
        "cpu_percent": 45, "memory_percent": 67.8, "memory_used_bytes": 8 * GIB,
        "memory_total_bytes": 16 * GIB,
        "disks": [DiskUsage(mount="/", used_bytes=60 * GIB, total_bytes=100 * GIB, percent=60),
                  DiskUsage(mount="/home", used_bytes=GIB, total_bytes=2 * GIB, percent=50)],
        "network_rx_bytes": 10**9, "network_tx_bytes": 10**8, "network_rx_packets": 2345678,
        "network_tx_packets": 1234567, "process_count": 234, "active_connections": 45,
        "load_avg_1m": 2.5, "load_avg_5m": 2.1, "load_avg_15m": 1.8,
    }
    return NodeSnapshot.model_validate({**fields, **overrides})


def roundtrip(message: dict[str, object]) -> dict[str, object]:
    """The message as a client decodes it (integers stay integers, 45.0 stays a float)."""
    decoded: dict[str, object] = orjson.loads(orjson.dumps(message))
    return decoded


def test_message_has_exactly_the_seed_keys_and_types_in_seed_units() -> None:
    message = roundtrip(metrics_message(snapshot(), NodeRates(3.2 * MIB, 1.5 * MIB)))
    assert_seed_message(message, "192.168.100.27")
    assert message["timestamp"] == "2025-12-17T10:00:00Z"  # seed 000's example, to the letter
    metrics = message["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["cpu"]["cpu_usage_percent"] == 45.0
    assert metrics["memory"]["memory_used_gb"] == 8.0
    assert metrics["disk"]["disk_usage"]["/home"] == {
        "usage_percent": 50.0, "used_gb": 1.0, "total_gb": 2.0}
    assert metrics["network"] == {
        "bytes_sent_mb_per_sec": 1.5, "bytes_recv_mb_per_sec": 3.2, "packets_sent": 1234567,
        "packets_recv": 2345678, "active_connections": 45}
    assert metrics["processes"] == {"process_count": 234}


def test_figures_this_machine_lacks_are_zero_never_null_for_the_seed_consumers() -> None:
    bare = snapshot(active_connections=None, load_avg_1m=None, load_avg_5m=None,
                    load_avg_15m=None, network_rx_packets=None, process_count=None,
                    memory_used_bytes=None)
    message = roundtrip(metrics_message(bare, NO_RATES))
    assert_seed_message(message, "192.168.100.27")  # no None anywhere: every type checked
    metrics = message["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["network"]["bytes_recv_mb_per_sec"] == 0.0
    assert metrics["network"]["active_connections"] == 0


def test_timestamp_is_the_seeds_utcnow_isoformat_plus_z() -> None:
    assert seed_timestamp(datetime(2025, 12, 17, 10, 0, 0, 657416, tzinfo=UTC)) == \
        "2025-12-17T10:00:00.657416Z"
    assert seed_timestamp(AT) == datetime(2025, 12, 17, 10, 0).isoformat() + "Z"


def test_welcome_is_the_seed_daemons_connection_message() -> None:
    message = roundtrip(welcome("n1", 60.0, AT))
    assert_welcome(message, "n1")
    assert message["interval"] == 60 and isinstance(message["interval"], int)
    assert roundtrip(welcome("n1", 0.5, AT))["interval"] == 0.5


def test_the_cpu_loads_and_the_memory_total_are_the_snapshots_in_seed_units() -> None:
    # Pinned by `make mutation`: 16 GiB total is 16.0 "GB" (GiB) in the seed's units.
    metrics = roundtrip(metrics_message(snapshot(), NO_RATES))["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["cpu"] == {"cpu_usage_percent": 45.0, "load_avg_1min": 2.5,
                              "load_avg_5min": 2.1, "load_avg_15min": 1.8}
    assert metrics["memory"] == {"memory_usage_percent": 67.8, "memory_used_gb": 8.0,
                                 "memory_total_gb": 16.0}


def test_the_seed_timestamp_is_utc_whatever_the_machines_time_zone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        ahead = datetime(2025, 12, 17, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        assert seed_timestamp(ahead) == "2025-12-17T10:00:00Z"
    finally:
        monkeypatch.undo()
        time.tzset()
