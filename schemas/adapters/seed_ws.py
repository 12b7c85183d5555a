"""The node daemon's WebSocket messages (`ws://<node>:8756`, seed 000/001) from `NodeSnapshot`s.

Why it exists: seed 001 requires that "existing WebSocket streaming must continue working": the
seed's frontend connects to the node, gets a welcome message, then one metrics message per
interval, and reads it as the seed's collector wrote it. These are exactly the keys seed 000's
WebSocket format and seed 001's `_transform_to_api_format` read:

    {"timestamp": "2025-12-17T10:00:00Z", "node_id": "...",
     "metrics": {"cpu": {cpu_usage_percent, load_avg_1min, load_avg_5min, load_avg_15min},
                 "memory": {memory_usage_percent, memory_used_gb, memory_total_gb},
                 "disk": {"disk_usage": {"<mount>": {usage_percent, used_gb, total_gb}}},
                 "network": {bytes_sent_mb_per_sec, bytes_recv_mb_per_sec, packets_sent,
                             packets_recv, active_connections},
                 "processes": {process_count}}}

Every figure is a number, as in the seed: the seed's consumers do arithmetic on them
(`int(...)`, `.toFixed()`) and would fail on a null. A figure this machine cannot report (load on
a platform without it, connections the OS refuses to list) is therefore 0, the value the seed's
own collector and its consumers' `.get(key, 0)` use; so are the rates of the first message after
a start or a reboot, which have no interval to be measured over. The durable record
(`telemetry.node`) keeps None for these; only this compatibility stream says 0.

Units as the seed's: GB = GiB, `*_mb_per_sec` = MiB/s. The timestamp is the seed's
`datetime.utcnow().isoformat() + 'Z'` (microseconds when not zero). The welcome message is the
one the seed's daemon sends first (`type: "connection"`), which frontends skip by its `type`.

What it must not do: compute rates (callers pass them), or know about sockets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.adapters.node import GIB, MIB
from schemas.node import NodeRates, NodeSnapshot


def seed_timestamp(at: datetime) -> str:
    """`at` as the seed writes timestamps: naive UTC ISO 8601 plus `Z`."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def welcome(node_id: str, interval_seconds: float, at: datetime) -> dict[str, Any]:
    """The first message on every connection."""
    interval: float = int(interval_seconds) if interval_seconds.is_integer() else interval_seconds
    return {"type": "connection", "status": "connected", "node_id": node_id,
            "interval": interval, "timestamp": seed_timestamp(at)}


def _number(value: float | None) -> float:
    return 0.0 if value is None else float(value)


def _count(value: int | None) -> int:
    return 0 if value is None else value


def metrics_message(snapshot: NodeSnapshot, rates: NodeRates) -> dict[str, Any]:
    """One metrics message: the snapshot with the network rates measured since the previous one."""
    return {
        "timestamp": seed_timestamp(snapshot.ts),
        "node_id": snapshot.node_id,
        "metrics": {
            "cpu": {
                "cpu_usage_percent": float(snapshot.cpu_percent),
                "load_avg_1min": _number(snapshot.load_avg_1m),
                "load_avg_5min": _number(snapshot.load_avg_5m),
                "load_avg_15min": _number(snapshot.load_avg_15m),
            },
            "memory": {
                "memory_usage_percent": float(snapshot.memory_percent),
                "memory_used_gb": _count(snapshot.memory_used_bytes) / GIB,
                "memory_total_gb": _count(snapshot.memory_total_bytes) / GIB,
            },
            "disk": {
                "disk_usage": {
                    disk.mount: {"usage_percent": float(disk.percent),
                                 "used_gb": disk.used_bytes / GIB,
                                 "total_gb": disk.total_bytes / GIB}
                    for disk in snapshot.disks
                },
            },
            "network": {
                "bytes_sent_mb_per_sec": _number(rates.tx_bytes_per_second) / MIB,
                "bytes_recv_mb_per_sec": _number(rates.rx_bytes_per_second) / MIB,
                "packets_sent": _count(snapshot.network_tx_packets),
                "packets_recv": _count(snapshot.network_rx_packets),
                "active_connections": _count(snapshot.active_connections),
            },
            "processes": {"process_count": _count(snapshot.process_count)},
        },
    }
