"""Reset-aware rates of cumulative counters: the one place Δvalue/Δt is computed.

Why it exists: node network counters, VM CPU time, NIC and disk counters are all raw cumulative
counters that can go backwards (a reboot, a driver reload, a 32-bit wrap, a VM restart). A rate
computed naively across such a reset is a huge negative (or absurd) number in a dashboard. Here a
reset, a duplicate or an out-of-order sample gives no rate (`None`) instead; the next pair of
samples gives a correct one again.

Timestamps are seconds on any common clock (event time: `datetime.timestamp()`); values are in
the counter's own unit, so the rate is that unit per second.

What it must not do: know about any domain (nodes, VMs), smooth, or keep state.
"""

from __future__ import annotations

from collections.abc import Mapping


def rate(prev_value: float, prev_ts: float, value: float, ts: float) -> float | None:
    """Per-second rate of a counter between two samples; None on a reset or a non-positive Δt."""
    elapsed = ts - prev_ts
    if elapsed <= 0 or value < prev_value:
        return None
    return (value - prev_value) / elapsed


def optional_rate(
    prev_value: float | None, prev_ts: float, value: float | None, ts: float
) -> float | None:
    """`rate` for counters a sample may lack: no rate unless both samples have the counter."""
    if prev_value is None or value is None:
        return None
    return rate(prev_value, prev_ts, value, ts)


def rates(
    prev: Mapping[str, float | None],
    prev_ts: float,
    current: Mapping[str, float | None],
    ts: float,
) -> dict[str, float | None]:
    """The rate of every counter in `current` against the same-named counter of `prev`."""
    return {name: optional_rate(prev.get(name), prev_ts, value, ts)
            for name, value in current.items()}
