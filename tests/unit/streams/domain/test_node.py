"""A node's state and network rates over a sequence of snapshots (duplicates, resets, reboots)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.node import NO_RATES, NodeRates, NodeSnapshot, snapshot_event_id
from streams.domain.node import NodeState, advance
from streams.projections.node import fields as node_fields

T0 = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
BOOT = datetime(2025, 12, 1, tzinfo=UTC)


def snap(seconds: float, rx: int | None = 0, tx: int | None = 0, **fields: Any) -> NodeSnapshot:
    at = T0 + timedelta(seconds=seconds)
    values: dict[str, Any] = {
        "event_id": snapshot_event_id("n1", at), "source": "test", "ts": at, "node_id": "n1",
        "cpu_percent": 10.0, "memory_percent": 20.0, "network_rx_bytes": rx,
        "network_tx_bytes": tx, "boot_time": BOOT, **fields}
    return NodeSnapshot(**values)


def run(*snapshots: NodeSnapshot) -> tuple[NodeState | None, list[NodeRates]]:
    state: NodeState | None = None
    seen = []
    for snapshot in snapshots:
        step = advance(state, snapshot)
        seen.append(step.rates)
        state = step.state or state
    return state, seen


def test_first_snapshot_has_no_rates() -> None:
    state, seen = run(snap(0, rx=100))
    assert seen == [NO_RATES]
    assert state is not None and state.snapshot.network_rx_bytes == 100


def test_rates_are_bytes_per_second_of_event_time() -> None:
    state, seen = run(snap(0, rx=0, tx=0), snap(10, rx=10_000, tx=500))
    assert seen[1] == NodeRates(1000.0, 50.0)
    assert state is not None and state.rates == NodeRates(1000.0, 50.0)


def test_counter_reset_gives_no_rate_then_recovers() -> None:
    _, seen = run(snap(0, rx=10_000), snap(10, rx=100), snap(20, rx=1100))
    assert seen[1].rx_bytes_per_second is None
    assert seen[2].rx_bytes_per_second == 100.0


def test_reboot_gives_no_rate_even_when_counters_grew() -> None:
    later_boot = BOOT + timedelta(days=16)
    _, seen = run(snap(0, rx=100), snap(3600, rx=10**9, boot_time=later_boot))
    assert seen[1] == NO_RATES


def test_duplicate_keeps_state_and_repeats_the_original_rates() -> None:
    first, second = snap(0, rx=0), snap(10, rx=1000)
    state, seen = run(first, second, second)
    assert seen[2] == seen[1] == NodeRates(100.0, 0.0)
    assert state is not None and state.snapshot == second


def test_out_of_order_snapshot_does_not_move_the_state() -> None:
    state, seen = run(snap(0), snap(20, rx=2000), snap(10, rx=1000))
    assert seen[2] == NO_RATES
    assert state is not None and state.snapshot.ts == T0 + timedelta(seconds=20)
    assert state.rates == NodeRates(100.0, 0.0)


def test_missing_counters_give_no_rates() -> None:
    _, seen = run(snap(0, rx=None, tx=None), snap(10, rx=None, tx=None))
    assert seen[1] == NO_RATES


def test_state_round_trips_through_its_table_value() -> None:
    state, _ = run(snap(0), snap(10, rx=1000))
    assert state is not None
    assert NodeState.from_value(state.to_value()) == state


def test_node_point_fields_leave_unknown_figures_out() -> None:
    fields = node_fields(snap(0, rx=None, tx=None), NO_RATES)
    assert fields["cpu_percent"] == 10.0
    assert fields["network_rx_bytes_per_second"] is None
    assert fields["disk_percent"] is None


@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(-5, 30)), min_size=1, max_size=30))
def test_no_sequence_of_snapshots_gives_a_negative_rate(
        samples: list[tuple[int, int]]) -> None:
    snapshots = [snap(seconds, rx=rx, tx=rx) for rx, seconds in samples]
    _, seen = run(*snapshots)
    for rates in seen:
        for value in (rates.rx_bytes_per_second, rates.tx_bytes_per_second):
            assert value is None or value >= 0
