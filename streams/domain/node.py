"""A node's latest state and its network rates, advanced one snapshot at a time.

Why it exists: the node agent (Kafka → table → PostgreSQL/InfluxDB) and the live WebSocket stream
both turn a sequence of snapshots of one node into "latest snapshot + rx/tx bytes per second".
`advance` is that step, pure, so both give the same numbers and a replay gives the same rows.

Rules:
- rates are on event time, from the raw counters (`streams.domain.rates`): a counter reset, or a
  reboot (the boot time moved), gives no rate rather than a negative or absurd one;
- a duplicate (same `ts` as the latest) does not advance the state and reports the rates it had
  the first time, so re-delivered history rows come out identical;
- an out-of-order snapshot (older than the latest) does not advance the state either and has no
  rates (its neighbours are unknown here); it is still a point of history.

What it must not do: I/O, or know about Faust tables (values are plain dicts via `to_value`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.node import NO_RATES, NodeRates, NodeSnapshot
from streams.domain.rates import optional_rate

# psutil derives boot time from the clock, which NTP may step a little; a real reboot moves it
# by at least the reboot's duration.
_BOOT_TIME_TOLERANCE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class NodeState:
    """The latest snapshot of a node and the rates computed when it arrived."""

    snapshot: NodeSnapshot
    rates: NodeRates

    def to_value(self) -> dict[str, Any]:
        """A JSON-compatible dict for the changelog-backed table."""
        return {
            "snapshot": self.snapshot.as_json_dict(),
            "rx_bytes_per_second": self.rates.rx_bytes_per_second,
            "tx_bytes_per_second": self.rates.tx_bytes_per_second,
        }

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> NodeState:
        return cls(
            NodeSnapshot.model_validate(value["snapshot"]),
            NodeRates(value.get("rx_bytes_per_second"), value.get("tx_bytes_per_second")),
        )

    def view(self) -> dict[str, Any]:
        """What `GET /nodes/{node_id}` shows: the snapshot and its network rates."""
        return {
            **self.snapshot.as_json_dict(),
            "network_rx_bytes_per_second": self.rates.rx_bytes_per_second,
            "network_tx_bytes_per_second": self.rates.tx_bytes_per_second,
        }


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one snapshot: its rates, and the new state (None: state unchanged)."""

    rates: NodeRates
    state: NodeState | None


def rebooted(prev: NodeSnapshot, current: NodeSnapshot) -> bool:
    """True when the two snapshots come from different boots of the node."""
    if prev.boot_time is None or current.boot_time is None:
        return False
    moved = abs((current.boot_time - prev.boot_time).total_seconds())
    return moved > _BOOT_TIME_TOLERANCE_SECONDS


def network_rates(prev: NodeSnapshot, current: NodeSnapshot) -> NodeRates:
    """rx/tx bytes per second between two snapshots of one node (None where unknown)."""
    if rebooted(prev, current):
        return NO_RATES
    prev_ts, ts = prev.ts.timestamp(), current.ts.timestamp()
    return NodeRates(
        optional_rate(prev.network_rx_bytes, prev_ts, current.network_rx_bytes, ts),
        optional_rate(prev.network_tx_bytes, prev_ts, current.network_tx_bytes, ts),
    )


def advance(prev: NodeState | None, snapshot: NodeSnapshot) -> Step:
    """Apply one snapshot to a node's state (see the module's rules)."""
    if prev is None:
        return Step(NO_RATES, NodeState(snapshot, NO_RATES))
    if snapshot.ts == prev.snapshot.ts:
        return Step(prev.rates, None)
    if snapshot.ts < prev.snapshot.ts:
        return Step(NO_RATES, None)
    rates = network_rates(prev.snapshot, snapshot)
    return Step(rates, NodeState(snapshot, rates))
