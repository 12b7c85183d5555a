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

Silence (`fold`, `sweep`), with exactly one alert of kind `node.silent` per transition, as the
backup staleness and worker inactivity have:
- reporting -> silent (found by `sweep` once `now >= latest snapshot + threshold`): `raised`, at
  that deterministic time, so a stream worker re-raising it after a crash or a takeover yields
  the same id; the state keeps `silent` and the raised id (`open_alert`);
- silent -> reporting (a snapshot newer than the latest that is fresh, i.e. `now` is within the
  threshold of it): `cleared`, at that snapshot's time, naming the raised id in `clears`.
  Older snapshots that come after a silence (an outbox draining its backlog) advance the state
  but do not end the silence: the node is heard of, not yet heard from.
The sweep runs only on owned, caught-up partitions (`streams.pipeline.agent`), so a replay or a
takeover's backlog raises nothing until it is processed.

What it must not do: I/O, read the clock (time comes in as `now_us`), or know about Faust tables
(values are plain dicts via `to_value`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alert import Alert
from schemas.event import epoch_micros
from schemas.node import NO_RATES, NodeRates, NodeSnapshot
from streams.domain.rates import optional_rate

ALERT_KIND = "node.silent"

# psutil derives boot time from the clock, which NTP may step a little; a real reboot moves it
# by at least the reboot's duration.
_BOOT_TIME_TOLERANCE_SECONDS = 2.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NodeState:
    """The latest snapshot of a node, the rates computed when it arrived, and its silence."""

    snapshot: NodeSnapshot
    rates: NodeRates
    silent: bool = False
    open_alert: str | None = None
    """The id of the `node.silent` alert raised for the current silence (None when reporting)."""

    def to_value(self) -> dict[str, Any]:
        """A JSON-compatible dict for the changelog-backed table."""
        return {
            "snapshot": self.snapshot.as_json_dict(),
            "rx_bytes_per_second": self.rates.rx_bytes_per_second,
            "tx_bytes_per_second": self.rates.tx_bytes_per_second,
            "silent": self.silent,
            "open_alert": self.open_alert,
        }

    @classmethod
    def from_value(cls, value: dict[str, Any]) -> NodeState:
        return cls(
            NodeSnapshot.model_validate(value["snapshot"]),
            NodeRates(value.get("rx_bytes_per_second"), value.get("tx_bytes_per_second")),
            bool(value.get("silent", False)),
            value.get("open_alert"),
        )

    def view(self) -> dict[str, Any]:
        """What `GET /nodes/{node_id}` shows: the snapshot, its network rates, its silence."""
        return {
            **self.snapshot.as_json_dict(),
            "network_rx_bytes_per_second": self.rates.rx_bytes_per_second,
            "network_tx_bytes_per_second": self.rates.tx_bytes_per_second,
            "silent": self.silent,
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


def posted_rates(snapshot: NodeSnapshot, derived: NodeRates) -> NodeRates:
    """The rates the sender posted (seed 000's daemons), each in place of the derived one."""
    rx, tx = snapshot.posted_rx_bytes_per_second, snapshot.posted_tx_bytes_per_second
    if rx is None and tx is None:
        return derived
    return NodeRates(derived.rx_bytes_per_second if rx is None else rx,
                     derived.tx_bytes_per_second if tx is None else tx)


def advance(prev: NodeState | None, snapshot: NodeSnapshot) -> Step:
    """Apply one snapshot to a node's state (see the module's rules)."""
    if prev is None:
        first = posted_rates(snapshot, NO_RATES)
        return Step(first, NodeState(snapshot, first))
    if snapshot.ts == prev.snapshot.ts:
        return Step(prev.rates, None)
    if snapshot.ts < prev.snapshot.ts:
        return Step(posted_rates(snapshot, NO_RATES), None)
    rates = posted_rates(snapshot, network_rates(prev.snapshot, snapshot))
    return Step(rates, replace(prev, snapshot=snapshot, rates=rates))


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Folded:
    """A batch of one node's snapshots: the new state (None: unchanged), each snapshot with its
    rates (every one is history), and the alert that ended a silence, if one did."""

    state: NodeState | None
    emitted: list[tuple[NodeSnapshot, NodeRates]]
    alerts: list[Alert] = field(default_factory=list)


def fold(prev: NodeState | None, snapshots: Sequence[NodeSnapshot], now_us: int,
         silent_after_s: float) -> Folded:
    """Apply a batch of snapshots (arrival order) to a node's state (see the module's rules)."""
    advanced: NodeState | None = None
    emitted: list[tuple[NodeSnapshot, NodeRates]] = []
    fresh_at: datetime | None = None
    for snapshot in snapshots:
        step = advance(advanced or prev, snapshot)
        emitted.append((snapshot, step.rates))
        if step.state is None:
            continue
        advanced = step.state
        if fresh_at is None and now_us < epoch_micros(snapshot.ts) + _micros(silent_after_s):
            fresh_at = snapshot.ts
    if advanced is None or not advanced.silent or fresh_at is None:
        return Folded(advanced, emitted)
    cleared = Alert.transition(ALERT_KIND, advanced.snapshot.node_id, "cleared", fresh_at,
                               clears=advanced.open_alert)
    return Folded(replace(advanced, silent=False, open_alert=None), emitted, [cleared])


def silent_since(state: NodeState, silent_after_s: float) -> int:
    """When a node whose latest snapshot is `state`'s falls silent (epoch µs)."""
    return epoch_micros(state.snapshot.ts) + _micros(silent_after_s)


def sweep_due_us(value: dict[str, Any], silent_after_s: float, retention_us: int) -> int:
    """When the sweep may first change a stored node state: its silence, or its retention's end.

    Reads the stored value (`NodeState.to_value`) without building a `NodeState`: it runs for
    every state stored, and for the whole table after each rebalance.
    """
    last_us = epoch_micros(datetime.fromisoformat(value["snapshot"]["ts"]))
    gone = last_us + retention_us
    return gone if value.get("silent") else min(gone, last_us + _micros(silent_after_s))


def sweep(state: NodeState, now_us: int, silent_after_s: float) -> tuple[NodeState, Alert] | None:
    """The node fallen silent and its alert; None when it reports, or its silence is raised."""
    if state.silent or now_us < silent_since(state, silent_after_s):
        return None
    alert = Alert.transition(ALERT_KIND, state.snapshot.node_id, "raised",
                             _at(silent_since(state, silent_after_s)),
                             last_snapshot_at=state.snapshot.ts,
                             silent_after_seconds=silent_after_s)
    return replace(state, silent=True, open_alert=alert.alert_id), alert
