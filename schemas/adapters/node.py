"""Seed 000/001's node telemetry formats <-> `NodeSnapshot`.

Why it exists: the original node daemon speaks two formats that fleetstream keeps as contracts:
- the API POST body (`POST /api/telemetry/snapshot`): flat, memory in MB, the primary disk in GB;
- the WebSocket message (`WS /ws/telemetry`): `{timestamp, node_id, metrics: {cpu, memory, disk,
  network, processes}}`, memory and disks in GB, network rates in MB/s;
and the `telemetry_history` table's columns are the API body's fields
(`streams/projections/node.py`). This module converts both ways, so the endpoint and the live
stream stay thin.

Units: the seed derives MB as GB * 1024, so its MB and GB are binary (MiB = 2**20 bytes, GiB =
2**30 bytes), and its `*_rate_mbps` fields carry `bytes_*_mb_per_sec`, i.e. MiB per second, not
megabits. Rates a seed daemon posts (`network_*_rate_mbps` in a POST, `bytes_*_mb_per_sec` in
a WebSocket message) are kept as the snapshot's `posted_*_bytes_per_second` and win over rates
derived from the counters: the seed daemon fills its byte counters with packet counts. Derived:
every other rate (reset-aware, from the raw counters). A `timestamp` without an offset is UTC (the
seed writes `datetime.utcnow().isoformat()`).

Seed bodies carry no `event_id`: it is derived from (node_id, timestamp) (`snapshot_event_id`), so
a client re-POSTing the same snapshot produces a duplicate the workers drop. A POST without a
`timestamp` (the seed's own curl example has none) is stamped with the time it was received.
Validation errors name the seed's fields (`memory_used_mb`, `metrics.cpu.cpu_usage_percent`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import Field

from schemas.errors import InvalidEvent
from schemas.event import (
    INT8_MAX,
    MAX_PARTS,
    Count,
    EventTime,
    Identifier,
    NonNegativeFloat,
    NonNegativeInt,
    Part,
    Percent,
    Seconds,
    SeedEventTime,
    parse_json_object,
    rejecting,
    validate,
)
from schemas.node import PRIMARY_MOUNT, NodeRates, NodeSnapshot, snapshot_event_id

MIB = 2**20
GIB = 2**30



_SeedT = TypeVar("_SeedT", bound=Part)

# The seed's MiB/GiB figures become bytes (int8): bounded so the conversion fits, and so the error
# names the seed's field rather than the converted one.
Mebibytes = Annotated[float, Field(ge=0, le=INT8_MAX // MIB, allow_inf_nan=False)]
Gibibytes = Annotated[float, Field(ge=0, le=INT8_MAX // GIB, allow_inf_nan=False)]


class SeedApiSnapshot(Part):
    """Seed 000's API POST body; only node_id, cpu_percent and memory_percent are required."""

    node_id: Identifier
    timestamp: SeedEventTime | None = Field(default=None, description=(
        "Event time; without an offset it is UTC (the seed writes utcnow().isoformat()); "
        "absent, the time the body was received."))
    cpu_percent: Percent
    memory_percent: Percent
    memory_used_mb: Mebibytes | None = None
    memory_total_mb: Mebibytes | None = None
    disk_percent: Percent | None = None
    disk_used_gb: Gibibytes | None = None
    disk_total_gb: Gibibytes | None = None
    network_rx_bytes: NonNegativeInt | None = None
    network_tx_bytes: NonNegativeInt | None = None
    network_rx_rate_mbps: Mebibytes | None = Field(default=None, description=(
        "Taken as posted (MiB/s), in place of a rate derived from network_rx_bytes, which the "
        "seed daemon fills with a packet count. Every other rate is derived downstream."))
    network_tx_rate_mbps: Mebibytes | None = Field(default=None, description=(
        "Taken as posted (MiB/s), like network_rx_rate_mbps."))
    uptime_seconds: Seconds | None = None
    process_count: Count | None = None
    active_connections: Count | None = None
    load_avg_1m: NonNegativeFloat | None = None
    load_avg_5m: NonNegativeFloat | None = None
    load_avg_15m: NonNegativeFloat | None = None


class SeedWsCpu(Part):
    cpu_usage_percent: Percent
    load_avg_1min: NonNegativeFloat | None = None
    load_avg_5min: NonNegativeFloat | None = None
    load_avg_15min: NonNegativeFloat | None = None


class SeedWsMemory(Part):
    memory_usage_percent: Percent
    memory_used_gb: Gibibytes | None = None
    memory_total_gb: Gibibytes | None = None


class SeedWsDisk(Part):
    usage_percent: Percent
    used_gb: Gibibytes
    total_gb: Gibibytes


class SeedWsDisks(Part):
    disk_usage: dict[Identifier, SeedWsDisk] = Field(default_factory=dict, max_length=MAX_PARTS)


class SeedWsNetwork(Part):
    bytes_recv: NonNegativeInt | None = None
    bytes_sent: NonNegativeInt | None = None
    bytes_recv_mb_per_sec: Mebibytes | None = None
    bytes_sent_mb_per_sec: Mebibytes | None = None
    active_connections: Count | None = None


class SeedWsProcesses(Part):
    process_count: Count | None = None


class SeedWsSystem(Part):
    uptime_seconds: Seconds | None = None
    boot_time: EventTime | None = None


class SeedWsMetrics(Part):
    cpu: SeedWsCpu
    memory: SeedWsMemory
    disk: SeedWsDisks = Field(default_factory=SeedWsDisks)
    network: SeedWsNetwork = Field(default_factory=SeedWsNetwork)
    processes: SeedWsProcesses = Field(default_factory=SeedWsProcesses)
    system: SeedWsSystem = Field(default_factory=SeedWsSystem)


class SeedWsMessage(Part):
    """Seed 000/001's WebSocket message (the seed elides details; `bytes_recv`/`bytes_sent` are
    psutil's counter names, which the seed's collector reads)."""

    timestamp: EventTime
    node_id: Identifier
    metrics: SeedWsMetrics


def _parse(model: type[_SeedT], raw: bytes | str, latest: datetime | None) -> _SeedT:
    return validate(model, parse_json_object(raw), latest=latest)


def _bytes(amount: float | None, unit: int) -> int | None:
    return None if amount is None else round(amount * unit)


def _in(amount: int | None, unit: int) -> float | None:
    return None if amount is None else amount / unit


def _snapshot(fields: dict[str, Any], node_id: str, at: datetime, source: str,
              latest: datetime | None) -> NodeSnapshot:
    return validate(NodeSnapshot, {
        **fields,
        "event_id": snapshot_event_id(node_id, at),
        "source": source,
        "ts": at,
        "node_id": node_id,
    }, latest=latest)


def _disk(mount: str, used_gb: float, total_gb: float, percent: float | None) -> dict[str, Any]:
    used, total = round(used_gb * GIB), round(total_gb * GIB)
    if percent is None:
        percent = min(100.0, 100.0 * used / total) if total else 0.0
    return {"mount": mount, "used_bytes": used, "total_bytes": total, "percent": percent}


def _api_disks(body: SeedApiSnapshot) -> list[dict[str, Any]]:
    if body.disk_percent is None and body.disk_used_gb is None and body.disk_total_gb is None:
        return []
    if body.disk_used_gb is None or body.disk_total_gb is None:
        raise InvalidEvent.single(
            "disk_used_gb", "disk_used_gb and disk_total_gb are required with disk_percent")
    return [_disk(PRIMARY_MOUNT, body.disk_used_gb, body.disk_total_gb, body.disk_percent)]


def from_seed_api(raw: bytes | str, *, received_at: datetime, source: str,
                  latest: datetime | None = None) -> NodeSnapshot:
    """Parse and validate one seed 000 API POST body; with `latest`, no event time after it."""
    with rejecting():
        return _from_seed_api(raw, received_at, source, latest)


def _from_seed_api(raw: bytes | str, received_at: datetime, source: str,
                   latest: datetime | None) -> NodeSnapshot:
    body = _parse(SeedApiSnapshot, raw, latest)
    at = body.timestamp or received_at
    return _snapshot({
        "cpu_percent": body.cpu_percent,
        "memory_percent": body.memory_percent,
        "memory_used_bytes": _bytes(body.memory_used_mb, MIB),
        "memory_total_bytes": _bytes(body.memory_total_mb, MIB),
        "disks": _api_disks(body),
        "network_rx_bytes": body.network_rx_bytes,
        "network_tx_bytes": body.network_tx_bytes,
        # Posted rates are the daemon's own (MiB/s): kept, since its byte counters may not be.
        "posted_rx_bytes_per_second": _per_second(body.network_rx_rate_mbps),
        "posted_tx_bytes_per_second": _per_second(body.network_tx_rate_mbps),
        "uptime_seconds": body.uptime_seconds,
        "process_count": body.process_count,
        "active_connections": body.active_connections,
        "load_avg_1m": body.load_avg_1m,
        "load_avg_5m": body.load_avg_5m,
        "load_avg_15m": body.load_avg_15m,
    }, body.node_id, at, source, latest)


def _per_second(mib_per_second: float | None) -> float | None:
    return None if mib_per_second is None else mib_per_second * MIB


def from_seed_ws(raw: bytes | str, *, source: str,
                 latest: datetime | None = None) -> NodeSnapshot:
    """Parse and validate one seed WebSocket message (e.g. from a seed daemon's stream)."""
    with rejecting():
        return _from_seed_ws(raw, source, latest)


def _from_seed_ws(raw: bytes | str, source: str, latest: datetime | None) -> NodeSnapshot:
    message = _parse(SeedWsMessage, raw, latest)
    metrics = message.metrics
    disks = [_disk(mount, disk.used_gb, disk.total_gb, disk.usage_percent)
             for mount, disk in metrics.disk.disk_usage.items()]
    return _snapshot({
        "cpu_percent": metrics.cpu.cpu_usage_percent,
        "memory_percent": metrics.memory.memory_usage_percent,
        "memory_used_bytes": _bytes(metrics.memory.memory_used_gb, GIB),
        "memory_total_bytes": _bytes(metrics.memory.memory_total_gb, GIB),
        "disks": disks,
        "network_rx_bytes": metrics.network.bytes_recv,
        "network_tx_bytes": metrics.network.bytes_sent,
        "posted_rx_bytes_per_second": _per_second(metrics.network.bytes_recv_mb_per_sec),
        "posted_tx_bytes_per_second": _per_second(metrics.network.bytes_sent_mb_per_sec),
        "uptime_seconds": metrics.system.uptime_seconds,
        "boot_time": metrics.system.boot_time,
        "process_count": metrics.processes.process_count,
        "active_connections": metrics.network.active_connections,
        "load_avg_1m": metrics.cpu.load_avg_1min,
        "load_avg_5m": metrics.cpu.load_avg_5min,
        "load_avg_15m": metrics.cpu.load_avg_15min,
    }, message.node_id, message.timestamp, source, latest)


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def to_seed_ws(snapshot: NodeSnapshot, rates: NodeRates) -> dict[str, Any]:
    """The live-stream message of a snapshot, in the seed's WebSocket format."""
    return {
        "timestamp": _rfc3339(snapshot.ts),
        "node_id": snapshot.node_id,
        "metrics": {
            "cpu": {
                "cpu_usage_percent": snapshot.cpu_percent,
                "load_avg_1min": snapshot.load_avg_1m,
                "load_avg_5min": snapshot.load_avg_5m,
                "load_avg_15min": snapshot.load_avg_15m,
            },
            "memory": {
                "memory_usage_percent": snapshot.memory_percent,
                "memory_used_gb": _in(snapshot.memory_used_bytes, GIB),
                "memory_total_gb": _in(snapshot.memory_total_bytes, GIB),
            },
            "disk": {
                "disk_usage": {
                    disk.mount: {"usage_percent": disk.percent,
                                 "used_gb": disk.used_bytes / GIB,
                                 "total_gb": disk.total_bytes / GIB}
                    for disk in snapshot.disks
                },
            },
            "network": {
                "bytes_recv": snapshot.network_rx_bytes,
                "bytes_sent": snapshot.network_tx_bytes,
                "bytes_recv_mb_per_sec": _per_mib(rates.rx_bytes_per_second),
                "bytes_sent_mb_per_sec": _per_mib(rates.tx_bytes_per_second),
                "active_connections": snapshot.active_connections,
            },
            "processes": {"process_count": snapshot.process_count},
            "system": {
                "uptime_seconds": snapshot.uptime_seconds,
                "boot_time": _rfc3339(snapshot.boot_time) if snapshot.boot_time else None,
            },
        },
    }


def _per_mib(bytes_per_second: float | None) -> float | None:
    return None if bytes_per_second is None else bytes_per_second / MIB
