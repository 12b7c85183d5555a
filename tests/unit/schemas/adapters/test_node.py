"""Seed 000/001 node formats <-> NodeSnapshot, and the telemetry_history row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.adapters.node import (
    GIB,
    MIB,
    from_seed_api,
    from_seed_ws,
    to_seed_ws,
)
from schemas.errors import InvalidEvent
from schemas.event import decode
from schemas.node import NO_RATES, NodeRates, NodeSnapshot
from streams.domain.node import advance
from streams.projections.node import HISTORY, history_row

HISTORY_NAMES = [name for name, _ in HISTORY.columns]

RECEIVED = datetime(2025, 12, 17, 12, 0, tzinfo=UTC)
SEED_BODY: dict[str, Any] = {  # seed 000's API POST example
    "node_id": "192.168.100.27", "timestamp": "2025-12-17T10:00:00Z", "cpu_percent": 45.2,
    "memory_percent": 67.8, "memory_used_mb": 8704, "memory_total_mb": 16384,
    "disk_percent": 82.1, "disk_used_gb": 82.1, "disk_total_gb": 100.0,
    "network_rx_bytes": 2345678, "network_tx_bytes": 1234567, "network_rx_rate_mbps": 3.2,
    "network_tx_rate_mbps": 1.5, "uptime_seconds": 3600, "process_count": 234,
    "active_connections": 45, "load_avg_1m": 2.5, "load_avg_5m": 2.1, "load_avg_15m": 1.8,
}


def api(body: dict[str, Any]) -> NodeSnapshot:
    return from_seed_api(orjson.dumps(body), received_at=RECEIVED, source="test")


def test_seed_api_body_converts_units_to_bytes() -> None:
    snapshot = api(SEED_BODY)
    assert snapshot.ts == datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
    assert snapshot.memory_used_bytes == 8704 * MIB
    assert snapshot.memory_total_bytes == 16 * GIB
    (disk,) = snapshot.disks
    assert (disk.mount, disk.total_bytes, disk.percent) == ("/", 100 * GIB, 82.1)
    assert disk.used_bytes == round(82.1 * GIB)
    assert snapshot.network_rx_bytes == 2345678
    assert snapshot.load_avg_15m == 1.8


def test_re_posting_a_snapshot_gives_the_same_event_id() -> None:
    assert api(SEED_BODY).event_id == api(dict(reversed(SEED_BODY.items()))).event_id
    assert api(SEED_BODY).event_id != api({**SEED_BODY, "timestamp": "2025-12-17T10:01:00Z"}
                                         ).event_id


def test_seed_curl_example_without_timestamp_is_stamped_on_receipt() -> None:
    snapshot = api({"node_id": "test", "cpu_percent": 50, "memory_percent": 60})
    assert snapshot.ts == RECEIVED
    assert snapshot.disks == []
    assert snapshot.network_rx_bytes is None


def test_invalid_body_names_every_bad_seed_field() -> None:
    with pytest.raises(InvalidEvent) as raised:
        api({**SEED_BODY, "cpu_percent": 140, "memory_used_mb": -1, "node_id": ""})
    assert {e.field for e in raised.value.errors} == {"cpu_percent", "memory_used_mb", "node_id"}


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"node_id": "x", "timestamp":'])
def test_non_object_bodies_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        from_seed_api(raw, received_at=RECEIVED, source="test")


def test_disk_percent_without_sizes_is_rejected() -> None:
    body = {k: v for k, v in SEED_BODY.items() if k != "disk_total_gb"}
    with pytest.raises(InvalidEvent, match="disk_used_gb"):
        api(body)


def test_snapshot_survives_the_wire() -> None:
    snapshot = api(SEED_BODY)
    assert decode(NodeSnapshot, snapshot.encode()) == snapshot


def test_websocket_message_is_in_the_seed_format() -> None:
    message = to_seed_ws(api(SEED_BODY), NodeRates(3 * MIB, 1.5 * MIB))
    assert message["timestamp"] == "2025-12-17T10:00:00Z"
    assert message["node_id"] == "192.168.100.27"
    metrics = message["metrics"]
    assert metrics["cpu"] == {"cpu_usage_percent": 45.2, "load_avg_1min": 2.5,
                              "load_avg_5min": 2.1, "load_avg_15min": 1.8}
    assert metrics["memory"]["memory_usage_percent"] == 67.8
    assert metrics["memory"]["memory_used_gb"] == 8.5
    assert metrics["disk"]["disk_usage"]["/"]["total_gb"] == 100.0
    assert metrics["network"]["bytes_recv_mb_per_sec"] == 3.0
    assert metrics["network"]["bytes_sent_mb_per_sec"] == 1.5
    assert metrics["network"]["active_connections"] == 45
    assert metrics["processes"]["process_count"] == 234


def test_websocket_message_round_trips() -> None:
    snapshot = api(SEED_BODY)
    # The message's rates are read back as posted ones, like the body's.
    posted = NodeRates(snapshot.posted_rx_bytes_per_second, snapshot.posted_tx_bytes_per_second)
    again = from_seed_ws(orjson.dumps(to_seed_ws(snapshot, posted)), source="test")
    assert again.model_dump(exclude={"source"}) == snapshot.model_dump(exclude={"source"})


def test_history_row_has_the_seed_columns_and_units() -> None:
    row = dict(zip(HISTORY_NAMES, history_row(api(SEED_BODY), NodeRates(2 * MIB, None)).values,
                   strict=True))
    assert row["memory_used_mb"] == 8704
    assert row["memory_total_mb"] == 16384
    assert row["disk_percent"] == 82.1
    assert row["disk_used_gb"] == pytest.approx(82.1)
    assert row["disk_total_gb"] == 100.0
    assert row["network_rx_rate_mbps"] == 2.0
    assert row["network_tx_rate_mbps"] is None
    assert row["uptime_seconds"] == 3600


def with_disks(*disks: dict[str, Any]) -> NodeSnapshot:
    return NodeSnapshot.model_validate({**api(SEED_BODY).model_dump(by_alias=True),
                                        "disks": list(disks)})


def test_history_row_uses_root_disk_else_the_first() -> None:
    data = {"mount": "/data", "used_bytes": 1, "total_bytes": GIB, "percent": 0.0}
    root = {"mount": "/", "used_bytes": GIB, "total_bytes": 2 * GIB, "percent": 50.0}
    for disks, total_gb in (((data, root), 2.0), ((data,), 1.0)):
        row = dict(zip(HISTORY_NAMES, history_row(with_disks(*disks), NO_RATES).values,
                       strict=True))
        assert row["disk_total_gb"] == total_gb


def test_seed_api_timestamps_without_an_offset_are_utc() -> None:
    # Seed 000's daemons write `datetime.utcnow().isoformat()`: no offset, microseconds.
    snapshot = from_seed_api(
        b'{"node_id": "n1", "cpu_percent": 1, "memory_percent": 2,'
        b' "timestamp": "2025-10-10T14:35:42.123456"}',
        received_at=datetime(2025, 10, 10, 15, tzinfo=UTC), source="t")
    assert snapshot.ts == datetime(2025, 10, 10, 14, 35, 42, 123456, tzinfo=UTC)


def test_posted_rates_are_kept_and_win_over_rates_from_the_counters() -> None:
    body = (b'{"node_id": "n1", "cpu_percent": 1, "memory_percent": 2,'
            b' "timestamp": "2025-10-10T14:35:%02dZ", "network_rx_bytes": %d,'
            b' "network_rx_rate_mbps": 1.5, "network_tx_rate_mbps": 0.25}')
    at = datetime(2025, 10, 10, 15, tzinfo=UTC)
    first = from_seed_api(body % (0, 10), received_at=at, source="t")
    second = from_seed_api(body % (10, 20), received_at=at, source="t")
    assert first.posted_rx_bytes_per_second == 1.5 * 2**20
    assert first.posted_tx_bytes_per_second == 0.25 * 2**20
    step = advance(advance(None, first).state, second)
    # The counters say 1 B/s (a packet count); the daemon's own figure is what counts.
    assert step.rates == NodeRates(1.5 * 2**20, 0.25 * 2**20)
    assert advance(None, first).rates == NodeRates(1.5 * 2**20, 0.25 * 2**20)


WS_MESSAGE: dict[str, Any] = {  # a seed WebSocket message, written by hand
    "timestamp": "2025-12-17T10:00:00Z", "node_id": "n1",
    "metrics": {"cpu": {"cpu_usage_percent": 10.0}, "memory": {"memory_usage_percent": 20.0},
                "system": {"uptime_seconds": 60, "boot_time": "2025-12-17T09:59:00Z"}},
}


def test_websocket_boot_time_is_kept() -> None:
    snapshot = from_seed_ws(orjson.dumps(WS_MESSAGE), source="test")
    assert snapshot.boot_time == datetime(2025, 12, 17, 9, 59, tzinfo=UTC)
    assert snapshot.uptime_seconds == 60


def test_websocket_message_after_latest_is_rejected() -> None:
    at = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
    with pytest.raises(InvalidEvent, match="future") as caught:
        from_seed_ws(orjson.dumps(WS_MESSAGE), source="test", latest=at - timedelta(seconds=1))
    # Named as the sender wrote it (the seed's `timestamp`), not as the snapshot's `ts`.
    assert [error.field for error in caught.value.errors] == ["timestamp"]
    assert from_seed_ws(orjson.dumps(WS_MESSAGE), source="test", latest=at).ts == at


def test_seed_api_body_after_latest_is_rejected_by_its_timestamp_or_its_receipt() -> None:
    at = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
    with pytest.raises(InvalidEvent, match="future") as caught:
        from_seed_api(orjson.dumps(SEED_BODY), received_at=RECEIVED, source="t",
                      latest=at - timedelta(seconds=1))
    assert [error.field for error in caught.value.errors] == ["timestamp"]
    assert from_seed_api(orjson.dumps(SEED_BODY), received_at=RECEIVED, source="t",
                         latest=at).ts == at
    # Without a timestamp the receipt time is the event time, and it is checked too.
    bare = orjson.dumps({"node_id": "n1", "cpu_percent": 1, "memory_percent": 2})
    with pytest.raises(InvalidEvent, match="future"):
        from_seed_api(bare, received_at=RECEIVED, source="t",
                      latest=RECEIVED - timedelta(seconds=1))


def test_two_nodes_reporting_the_same_second_are_two_events() -> None:
    assert api(SEED_BODY).event_id != api({**SEED_BODY, "node_id": "192.168.100.28"}).event_id


def test_seed_api_keeps_the_sent_bytes_counter() -> None:
    assert api(SEED_BODY).network_tx_bytes == 1234567


@pytest.mark.parametrize(("used_gb", "total_gb", "percent"), [
    (25.0, 100.0, 25.0), (3.0, 2.0, 100.0), (0.0, 0.0, 0.0)])
def test_a_disk_without_percent_gets_it_from_its_sizes_at_most_100(
        used_gb: float, total_gb: float, percent: float) -> None:
    body = {**SEED_BODY, "disk_used_gb": used_gb, "disk_total_gb": total_gb}
    del body["disk_percent"]
    (disk,) = api(body).disks
    assert (disk.used_bytes, disk.total_bytes, disk.percent) == (
        round(used_gb * GIB), round(total_gb * GIB), percent)


def test_a_disk_size_without_the_other_names_the_missing_pair() -> None:
    body = {k: v for k, v in SEED_BODY.items() if k not in {"disk_percent", "disk_total_gb"}}
    with pytest.raises(InvalidEvent) as caught:
        api(body)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("disk_used_gb", "disk_used_gb and disk_total_gb are required with disk_percent")]


def test_websocket_message_of_a_snapshot_without_figures_has_nulls() -> None:
    bare = api({"node_id": "n1", "cpu_percent": 1, "memory_percent": 2})
    metrics = to_seed_ws(bare, NO_RATES)["metrics"]
    assert metrics["memory"] == {"memory_usage_percent": 2.0, "memory_used_gb": None,
                                 "memory_total_gb": None}
    assert metrics["network"]["bytes_recv_mb_per_sec"] is None
    assert metrics["system"] == {"uptime_seconds": None, "boot_time": None}


def test_websocket_message_carries_the_boot_time_in_rfc3339() -> None:
    snapshot = from_seed_ws(orjson.dumps(WS_MESSAGE), source="test")
    assert to_seed_ws(snapshot, NO_RATES)["metrics"]["system"] == {
        "uptime_seconds": 60.0, "boot_time": "2025-12-17T09:59:00Z"}
