"""Node projections: seed 000's `telemetry_history` row and the `node` point, per snapshot.

Why it exists: every snapshot (with the rates computed for it from the node's previous one)
becomes one history row, in seed 000's API units (memory in MiB, the primary disk in GiB, network
rates in MiB/s), keyed (node_id, timestamp) so a re-delivered snapshot is skipped, and one point
of the `node` measurement at its event time.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.adapters.node import GIB, MIB
from schemas.node import NodeRates, NodeSnapshot
from streams.projections.points import point_message
from streams.projections.rows import Row, insert_new
from streams.sinks.line_protocol import line
from streams.sinks.message import Message

HISTORY = insert_new("telemetry_history", (
    ("node_id", "text"), ("timestamp", "timestamptz"), ("cpu_percent", "float8"),
    ("memory_percent", "float8"), ("memory_used_mb", "int8"), ("memory_total_mb", "int8"),
    ("disk_percent", "float8"), ("disk_used_gb", "float8"), ("disk_total_gb", "float8"),
    ("network_rx_bytes", "int8"), ("network_tx_bytes", "int8"),
    ("network_rx_rate_mbps", "float8"), ("network_tx_rate_mbps", "float8"),
    ("uptime_seconds", "int8"), ("process_count", "int4"), ("active_connections", "int4"),
    ("load_avg_1m", "float8"), ("load_avg_5m", "float8"), ("load_avg_15m", "float8"),
), key=("node_id", "timestamp"))


def _in(amount: int | None, unit: int) -> int | None:
    return None if amount is None else round(amount / unit)


def _per_mib(bytes_per_second: float | None) -> float | None:
    return None if bytes_per_second is None else bytes_per_second / MIB


def history_row(snapshot: NodeSnapshot, rates: NodeRates) -> Row:
    """The `telemetry_history` row of a snapshot."""
    disk = snapshot.primary_disk
    return Row(HISTORY, (
        snapshot.node_id, snapshot.ts, snapshot.cpu_percent, snapshot.memory_percent,
        _in(snapshot.memory_used_bytes, MIB), _in(snapshot.memory_total_bytes, MIB),
        disk.percent if disk else None, disk.used_bytes / GIB if disk else None,
        disk.total_bytes / GIB if disk else None, snapshot.network_rx_bytes,
        snapshot.network_tx_bytes, _per_mib(rates.rx_bytes_per_second),
        _per_mib(rates.tx_bytes_per_second),
        None if snapshot.uptime_seconds is None else round(snapshot.uptime_seconds),
        snapshot.process_count, snapshot.active_connections, snapshot.load_avg_1m,
        snapshot.load_avg_5m, snapshot.load_avg_15m))


def fields(snapshot: NodeSnapshot, rates: NodeRates) -> dict[str, float | int | None]:
    """Fields of the `node` measurement (tag: node_id); None fields are left out of the point."""
    disk = snapshot.primary_disk
    return {
        "cpu_percent": snapshot.cpu_percent,
        "memory_percent": snapshot.memory_percent,
        "memory_used_bytes": snapshot.memory_used_bytes,
        "memory_total_bytes": snapshot.memory_total_bytes,
        "disk_percent": disk.percent if disk else None,
        "disk_used_bytes": disk.used_bytes if disk else None,
        "disk_total_bytes": disk.total_bytes if disk else None,
        "network_rx_bytes": snapshot.network_rx_bytes,
        "network_tx_bytes": snapshot.network_tx_bytes,
        "network_rx_bytes_per_second": rates.rx_bytes_per_second,
        "network_tx_bytes_per_second": rates.tx_bytes_per_second,
        "uptime_seconds": snapshot.uptime_seconds,
        "process_count": snapshot.process_count,
        "active_connections": snapshot.active_connections,
        "load_avg_1m": snapshot.load_avg_1m,
        "load_avg_5m": snapshot.load_avg_5m,
        "load_avg_15m": snapshot.load_avg_15m,
        "outbox_dropped_total": snapshot.outbox_dropped_total,
    }


def points(node_id: str, snapshots: Sequence[tuple[NodeSnapshot, NodeRates]]) -> Message | None:
    """The `node` points of a node's snapshots of one batch."""
    return point_message(node_id, [line("node", {"node_id": snapshot.node_id},
                                        fields(snapshot, rates), snapshot.ts)
                                   for snapshot, rates in snapshots])
