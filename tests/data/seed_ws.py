"""Seed 000/001's WebSocket messages as the seed's frontend and `_transform_to_api_format` read
them: every key, with the JSON type the seed gives it (`45.2` a float, `234` an integer).

Why it exists: the unit test of the message builder and the integration test against a running
node agent check the same contract, key by key.
"""

from __future__ import annotations

import re
from typing import Any

WELCOME_KEYS: dict[str, type | tuple[type, ...]] = {
    "type": str, "status": str, "node_id": str, "interval": (int, float), "timestamp": str}
METRICS_SHAPE: dict[str, dict[str, type]] = {
    "cpu": {"cpu_usage_percent": float, "load_avg_1min": float, "load_avg_5min": float,
            "load_avg_15min": float},
    "memory": {"memory_usage_percent": float, "memory_used_gb": float, "memory_total_gb": float},
    "network": {"bytes_sent_mb_per_sec": float, "bytes_recv_mb_per_sec": float,
                "packets_sent": int, "packets_recv": int, "active_connections": int},
    "processes": {"process_count": int},
}
DISK_SHAPE = {"usage_percent": float, "used_gb": float, "total_gb": float}
# The seed's `datetime.utcnow().isoformat() + 'Z'` ("2025-12-17T10:00:00Z", microseconds optional).
SEED_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


def _typed(value: Any, expected: type | tuple[type, ...], where: str) -> None:
    assert not isinstance(value, bool) and isinstance(value, expected), (
        f"{where} is {value!r}, the seed has {expected}")


def assert_welcome(message: dict[str, Any], node_id: str) -> None:
    assert message.keys() == WELCOME_KEYS.keys(), message
    for key, expected in WELCOME_KEYS.items():
        _typed(message[key], expected, key)
    assert (message["type"], message["status"], message["node_id"]) == (
        "connection", "connected", node_id)
    assert SEED_TIMESTAMP.fullmatch(message["timestamp"]), message["timestamp"]


def assert_seed_message(message: dict[str, Any], node_id: str) -> None:
    """`message` has exactly the seed's keys, each of the seed's type."""
    assert message.keys() == {"timestamp", "node_id", "metrics"}, message.keys()
    assert message["node_id"] == node_id
    assert SEED_TIMESTAMP.fullmatch(message["timestamp"]), message["timestamp"]
    metrics = message["metrics"]
    assert metrics.keys() == {*METRICS_SHAPE, "disk"}, metrics.keys()
    for group, shape in METRICS_SHAPE.items():
        assert metrics[group].keys() == shape.keys(), (group, metrics[group])
        for key, expected in shape.items():
            _typed(metrics[group][key], expected, f"metrics.{group}.{key}")
    assert metrics["disk"].keys() == {"disk_usage"}
    for mount, disk in metrics["disk"]["disk_usage"].items():
        assert disk.keys() == DISK_SHAPE.keys(), (mount, disk)
        for key, expected in DISK_SHAPE.items():
            _typed(disk[key], expected, f"metrics.disk.disk_usage[{mount}].{key}")
