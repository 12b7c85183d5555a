"""`node.snapshot/1`: one machine's resource usage at one moment, as the node agent publishes it.

Why it exists: the node agent (producers/node), the seed 000 HTTP endpoint and the stream workers
(streams/agents/node.py) agree on this shape for `telemetry.node` (key = node_id). Units are base
units named in the field (`_bytes`, `_seconds`, `_percent`); the network figures are the raw
cumulative counters of the host (rates are computed downstream, reset-aware). A figure the source
did not report (seed clients may post only CPU and memory; connections need privileges) is `None`,
never a made-up 0.

`event_id` is derived from (node_id, ts) by `snapshot_event_id`: a node has one snapshot per
instant, so a re-POST or a re-sent outbox row is recognisably the same event.

What it must not do: compute rates or know any seed format (schemas/adapters/node.py converts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from schemas.event import (
    MAX_PARTS,
    Count,
    Event,
    EventTime,
    Identifier,
    NonNegativeFloat,
    NonNegativeInt,
    Part,
    Percent,
    Seconds,
)

_EVENT_NAMESPACE = uuid.UUID("6f1c3a52-0d7e-4b8f-9a3e-2c5d7e9f1b40")

PRIMARY_MOUNT = "/"


def snapshot_event_id(node_id: str, ts: datetime) -> uuid.UUID:
    """The event id of the snapshot of `node_id` taken at `ts` (the same for every re-send)."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{node_id}|{ts.isoformat()}")


class DiskUsage(Part):
    """Usage of one mounted filesystem."""

    mount: Identifier
    used_bytes: NonNegativeInt
    total_bytes: NonNegativeInt
    percent: Percent


class NodeSnapshot(Event):
    """One node's CPU, memory, disks, network counters, processes and load at `ts`."""

    SCHEMA: ClassVar[str] = "node.snapshot/1"
    schema_name: Literal["node.snapshot/1"] = Field(default="node.snapshot/1", alias="schema")

    node_id: Identifier
    cpu_percent: Percent
    memory_percent: Percent
    memory_used_bytes: NonNegativeInt | None = None
    memory_total_bytes: NonNegativeInt | None = None
    disks: list[DiskUsage] = Field(default_factory=list, max_length=MAX_PARTS)
    network_rx_bytes: NonNegativeInt | None = None
    network_tx_bytes: NonNegativeInt | None = None
    network_rx_packets: NonNegativeInt | None = None
    """Cumulative packets received (seed 001's WebSocket `packets_recv`); None when not reported."""
    network_tx_packets: NonNegativeInt | None = None
    """Cumulative packets sent (seed 001's WebSocket `packets_sent`); None when not reported."""
    posted_rx_bytes_per_second: NonNegativeFloat | None = None
    """A receive rate the sender measured itself (seed 000's daemons post theirs): taken as is
    instead of one derived from the counters, which such senders fill with packet counts."""
    posted_tx_bytes_per_second: NonNegativeFloat | None = None
    """The send rate the sender measured itself (see `posted_rx_bytes_per_second`)."""
    uptime_seconds: Seconds | None = None
    boot_time: EventTime | None = None
    # int4 columns of telemetry_history.
    process_count: Count | None = None
    active_connections: Count | None = None
    load_avg_1m: NonNegativeFloat | None = None
    load_avg_5m: NonNegativeFloat | None = None
    load_avg_15m: NonNegativeFloat | None = None
    outbox_dropped_total: NonNegativeInt | None = None
    """Snapshots the producer's outbox dropped (oldest first) since it was created: losses show."""

    @property
    def primary_disk(self) -> DiskUsage | None:
        """The root filesystem, or the first disk reported when there is no "/"."""
        for disk in self.disks:
            if disk.mount == PRIMARY_MOUNT:
                return disk
        return self.disks[0] if self.disks else None


@dataclass(frozen=True, slots=True)
class NodeRates:
    """Network rates computed downstream from two snapshots' counters; None when unknown."""

    rx_bytes_per_second: float | None = None
    tx_bytes_per_second: float | None = None


NO_RATES = NodeRates()
