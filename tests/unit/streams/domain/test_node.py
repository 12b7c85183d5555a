"""A node's state and network rates over a sequence of snapshots (duplicates, resets, reboots),
and its silence: one `node.silent` alert raised, one cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.event import epoch_micros
from schemas.node import NO_RATES, NodeRates, NodeSnapshot, snapshot_event_id
from streams.domain.node import ALERT_KIND, NodeState, advance, fold, sweep

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


@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(-5, 30)), min_size=1, max_size=30))
def test_no_sequence_of_snapshots_gives_a_negative_rate(
        samples: list[tuple[int, int]]) -> None:
    snapshots = [snap(seconds, rx=rx, tx=rx) for rx, seconds in samples]
    _, seen = run(*snapshots)
    for rates in seen:
        for value in (rates.rx_bytes_per_second, rates.tx_bytes_per_second):
            assert value is None or value >= 0


SILENT_S = 180
US = 1_000_000
T0_US = epoch_micros(T0)


def reporting(*seconds: float) -> NodeState:
    folded = fold(None, [snap(s) for s in seconds], T0_US + round(max(seconds) * US), SILENT_S)
    assert folded.state is not None and not folded.alerts
    return folded.state


def test_a_node_silent_for_the_threshold_raises_one_alert_at_a_deterministic_time() -> None:
    state = reporting(0, 60)
    last = T0_US + 60 * US
    assert sweep(state, last + SILENT_S * US - 1, SILENT_S) is None
    swept = sweep(state, last + SILENT_S * US, SILENT_S)
    assert swept is not None
    silent, alert = swept
    assert (alert.kind, alert.subject, alert.state) == (ALERT_KIND, "n1", "raised")
    assert alert.at == T0 + timedelta(seconds=60 + SILENT_S)
    assert silent.silent and silent.open_alert == alert.alert_id
    assert silent.view()["silent"] and not state.view()["silent"]
    assert sweep(silent, last + 10 * SILENT_S * US, SILENT_S) is None, "raised once"
    # A restart or takeover sweeping the stored state before it went silent re-raises the same id.
    again = sweep(NodeState.from_value(state.to_value()), last + 5 * SILENT_S * US, SILENT_S)
    assert again is not None and again[1].alert_id == alert.alert_id


def test_a_fresh_snapshot_clears_the_silence_naming_the_raised_alert() -> None:
    state = reporting(0)
    swept = sweep(state, T0_US + 200 * US, SILENT_S)
    assert swept is not None
    silent, raised = swept
    back = fold(NodeState.from_value(silent.to_value()), [snap(300), snap(360)],
                T0_US + 361 * US, SILENT_S)
    assert back.state is not None and not back.state.silent and back.state.open_alert is None
    assert [(a.kind, a.state, a.clears, a.at) for a in back.alerts] == [
        (ALERT_KIND, "cleared", raised.alert_id, T0 + timedelta(seconds=300))]
    assert [s.ts for s, _ in back.emitted] == [T0 + timedelta(seconds=300),
                                                T0 + timedelta(seconds=360)]
    assert sweep(back.state, T0_US + 361 * US, SILENT_S) is None


def test_a_drained_backlog_of_old_snapshots_does_not_end_the_silence() -> None:
    state = reporting(0)
    swept = sweep(state, T0_US + 1000 * US, SILENT_S)
    assert swept is not None
    backlog = fold(swept[0], [snap(60), snap(120)], T0_US + 1000 * US, SILENT_S)
    assert backlog.state is not None and backlog.state.silent and not backlog.alerts
    assert backlog.state.snapshot.ts == T0 + timedelta(seconds=120)
    assert sweep(backlog.state, T0_US + 1000 * US, SILENT_S) is None, "no second raise"
    fresh = fold(backlog.state, [snap(990)], T0_US + 1000 * US, SILENT_S)
    assert [a.clears for a in fresh.alerts] == [swept[1].alert_id]


def test_duplicates_and_older_snapshots_do_not_end_a_silence() -> None:
    state = reporting(0, 60)
    swept = sweep(state, T0_US + 300 * US, SILENT_S)
    assert swept is not None
    again = fold(swept[0], [snap(60), snap(30)], T0_US + 100 * US, SILENT_S)
    assert again.state is None and not again.alerts


def test_silence_survives_the_table_round_trip_and_rates_keep_flowing() -> None:
    state = reporting(0)
    swept = sweep(state, T0_US + 200 * US, SILENT_S)
    assert swept is not None
    stored = NodeState.from_value(swept[0].to_value())
    assert stored == swept[0]
    step = advance(stored, snap(100, rx=1000))
    assert step.state is not None and step.state.silent, "advance keeps the silence"
    assert step.rates.rx_bytes_per_second == 10.0


# The cases below came out of `make mutation` (docs/testing.md): each pins a rule a planted bug
# broke without any other test noticing. Expected figures are worked out by hand.

def test_the_node_view_shows_the_network_rates_and_a_false_silence() -> None:
    state, _ = run(snap(0, rx=0, tx=0), snap(10, rx=1000, tx=500))
    assert state is not None
    view = state.view()
    assert view["network_rx_bytes_per_second"] == 100.0  # 1000 B over 10 s
    assert view["network_tx_bytes_per_second"] == 50.0
    assert view["silent"] is False


def test_a_table_value_from_before_silence_tracking_reads_as_reporting() -> None:
    first = snap(0)
    value = {"snapshot": first.as_json_dict(), "rx_bytes_per_second": 1.5,
             "tx_bytes_per_second": 2.5}
    assert NodeState.from_value(value) == NodeState(first, NodeRates(1.5, 2.5), False, None)


def test_a_posted_rate_replaces_only_its_own_derived_rate() -> None:
    # Counters: rx 0 -> 1000 B, tx 0 -> 500 B over 10 s, i.e. 100 and 50 B/s derived.
    _, seen = run(snap(0), snap(10, rx=1000, tx=500, posted_rx_bytes_per_second=7.5))
    assert seen[1] == NodeRates(7.5, 50.0)
    _, seen = run(snap(0), snap(10, rx=1000, tx=500, posted_tx_bytes_per_second=2.5))
    assert seen[1] == NodeRates(100.0, 2.5)


def test_a_missing_boot_time_is_not_a_reboot() -> None:
    _, seen = run(snap(0, boot_time=None), snap(10, rx=1000, boot_time=None))
    assert seen[1] == NodeRates(100.0, 0.0)
    # A sender that starts reporting its boot time (an upgraded daemon) has not rebooted either.
    _, seen = run(snap(0, boot_time=None), snap(10, rx=1000))
    assert seen[1] == NodeRates(100.0, 0.0)


def test_a_boot_time_moved_by_the_two_second_tolerance_is_the_same_boot() -> None:
    _, seen = run(snap(0), snap(10, rx=1000, boot_time=BOOT + timedelta(seconds=2)))
    assert seen[1] == NodeRates(100.0, 0.0)
    _, seen = run(snap(0), snap(10, rx=1000, boot_time=BOOT - timedelta(seconds=2)))
    assert seen[1] == NodeRates(100.0, 0.0)
    _, seen = run(snap(0), snap(10, rx=1000, boot_time=BOOT + timedelta(seconds=2.001)))
    assert seen[1] == NO_RATES


def test_a_duplicate_inside_a_batch_does_not_stop_the_snapshots_after_it() -> None:
    batch = [snap(0), snap(10, rx=1000), snap(10, rx=1000), snap(20, rx=3000)]
    folded = fold(None, batch, T0_US + 20 * US, SILENT_S)
    assert folded.emitted == [(batch[0], NO_RATES), (batch[1], NodeRates(100.0, 0.0)),
                              (batch[2], NodeRates(100.0, 0.0)),
                              (batch[3], NodeRates(200.0, 0.0))]  # 2000 B over 10 s
    assert folded.state == NodeState(batch[3], NodeRates(200.0, 0.0))
    assert not folded.alerts


def test_a_snapshot_exactly_the_threshold_old_does_not_end_a_silence() -> None:
    swept = sweep(reporting(0), T0_US + 1000 * US, SILENT_S)
    assert swept is not None
    now = T0_US + 1000 * US
    # 820 s + 180 s = now: that snapshot is itself already silent at `now` (sweep's `>=`).
    stale = fold(swept[0], [snap(820)], now, SILENT_S)
    assert stale.state is not None and stale.state.silent and not stale.alerts
    fresh = fold(swept[0], [snap(820)], now - 1, SILENT_S)
    assert fresh.state is not None and [a.state for a in fresh.alerts] == ["cleared"]
    assert fresh.state.to_value()["silent"] is False
    assert fresh.state.view()["silent"] is False


def test_the_raised_alert_says_when_the_node_was_last_heard_and_the_threshold() -> None:
    swept = sweep(reporting(0, 60), T0_US + 1000 * US, SILENT_S)
    assert swept is not None
    assert swept[1].detail == {"last_snapshot_at": T0 + timedelta(seconds=60),
                               "silent_after_seconds": 180}
