"""Event-time window rollups: tumbling/hopping bounds, late events within expiry, older ones
counted and dropped, and the views' numbers worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.node import NodeRates, NodeSnapshot, snapshot_event_id
from streams.domain import rollups
from streams.domain import windows as w

T0 = 1_800_000_000  # epoch seconds, a whole minute (2027-01-15T08:00:00Z)
ISO = datetime.fromtimestamp(T0, UTC)


def us(offset_s: float) -> int:
    return round((T0 + offset_s) * 1_000_000)


def iso(offset_s: int) -> str:
    return (ISO + timedelta(seconds=offset_s)).isoformat().replace("+00:00", "Z")


class Key:
    """One key's state and stored panes, updated as the store step does (DictStore's merge)."""

    def __init__(self, rollup: w.Rollup) -> None:
        self.rollup = rollup
        self.state: dict[str, Any] = {}
        self.panes: dict[int, w.Aggregate] = {}
        self.tombstoned: list[int] = []

    def batch(self, samples: Sequence[tuple[int, w.Aggregate]]) -> w.WindowUpdate:
        # The domain left the rest of the state as it was (None), as a late snapshot does.
        after, change = w.fold_windows(self.state, None, samples, self.rollup)
        self.state = after if after is not None else self.state
        for pane in change.expired:
            if self.panes.pop(pane, None) is not None:
                self.tombstoned.append(pane)
        for pane, agg in change.panes.items():
            current = self.panes.get(pane)
            self.panes[pane] = agg if current is None else change.merge(current, agg)
        return change

    def view(self) -> dict[str, Any]:
        return w.shown(self.rollup, self.panes, w.watermark_of(self.state),
                       w.late_dropped_of(self.state))


def report(offset_s: float, transferred: int) -> tuple[int, w.Aggregate]:
    return us(offset_s), rollups.job_sample(transferred)


def job_window(start: int, size: int, reports: int, transferred: int) -> dict[str, Any]:
    return {"start": iso(start), "end": iso(start + size), "reports": reports,
            "bytes": transferred, "bytes_per_second": transferred / size}


def test_tumbling_bounds_are_the_minute_an_event_falls_in() -> None:
    assert w.window_starts(w.TUMBLING_1M, us(0)) == [T0]
    assert w.window_starts(w.TUMBLING_1M, us(59.999999)) == [T0]
    assert w.window_starts(w.TUMBLING_1M, us(60)) == [T0 + 60]


def test_hopping_bounds_are_the_five_windows_holding_the_event() -> None:
    assert w.window_starts(w.HOPPING_5M, us(125.5)) == [T0 - 120, T0 - 60, T0, T0 + 60, T0 + 120]


@given(st.integers(min_value=0, max_value=10**7))
def test_every_window_of_an_event_contains_it(offset_s: int) -> None:
    for spec in w.SPECS:
        starts = w.window_starts(spec, us(offset_s))
        assert len(starts) == spec.size_s // spec.step_s
        assert all(start <= T0 + offset_s < start + spec.size_s for start in starts)


def test_job_windows_hold_the_bytes_grown_between_their_reports() -> None:
    job = Key(rollups.JOB)
    job.batch([report(0, 0), report(30, 600), report(70, 1200)])
    # A report of the first minute arriving after one of the third: within expiry, it counts.
    change = job.batch([report(130, 3000), report(45, 900)])
    assert change.late == 0
    view = job.view()
    assert view["late_dropped"] == 0
    assert view["windows"]["tumbling_1m"] == [
        job_window(0, 60, 3, 900), job_window(60, 60, 1, 0), job_window(120, 60, 1, 0)]
    assert view["windows"]["hopping_5m"] == [
        job_window(-240, 300, 3, 900),    # the first minute only
        job_window(-180, 300, 4, 1200),   # 0 .. 1200
        job_window(-120, 300, 5, 3000),
        job_window(-60, 300, 5, 3000),
        job_window(0, 300, 5, 3000),
        job_window(60, 300, 2, 1800),     # 1200 .. 3000
        job_window(120, 300, 1, 0),
    ]


def test_an_event_older_than_every_held_window_is_counted_and_dropped() -> None:
    job = Key(rollups.JOB)
    job.batch([report(0, 0), report(30, 600), report(70, 1200), report(130, 3000)])
    change = job.batch([report(700, 9000), report(100, 1500)])
    # The watermark is 700 s: panes ending at or before 700 - 540 s are gone, so the report of
    # second 100 (pane 60-120) has no window left; the pane of second 130 (120-180) is kept.
    assert change.late == 1
    assert job.tombstoned == [T0, T0 + 60]
    assert sorted(job.panes) == [T0 + 120, T0 + 660]
    view = job.view()
    assert view["late_dropped"] == 1
    # Tumbling windows are held while their end is within 300 s of the watermark.
    assert view["windows"]["tumbling_1m"] == [job_window(660, 60, 1, 0)]
    assert view["windows"]["hopping_5m"] == [
        job_window(120, 300, 1, 0),
        *(job_window(start, 300, 1, 0) for start in range(420, 661, 60))]
    # A late report whose tumbling window expired still updates the hopping window holding it.
    job.batch([report(150, 3600)])
    assert job.view()["windows"]["hopping_5m"][0] == job_window(120, 300, 2, 600)
    assert job.view()["windows"]["tumbling_1m"] == [job_window(660, 60, 1, 0)]
    assert job.view()["late_dropped"] == 1


def test_a_batch_folds_as_its_events_would_one_at_a_time() -> None:
    at_once, one_by_one = Key(rollups.JOB), Key(rollups.JOB)
    reports = [report(0, 0), report(30, 100), report(800, 5000), report(10, 50), report(790, 4000)]
    at_once.batch(reports)
    for one in reports:
        one_by_one.batch([one])
    assert at_once.view() == one_by_one.view()
    assert at_once.view()["late_dropped"] == 1
    assert at_once.panes == one_by_one.panes


def test_the_state_changes_only_when_the_watermark_or_late_count_moves() -> None:
    state = {"x": 1, w.WATERMARK_FIELD: us(100), w.LATE_FIELD: 0}
    after, change = w.fold_windows(state, None, [report(50, 1)], rollups.JOB)
    assert after is None and change.panes == {T0: rollups.job_sample(1)}
    after, change = w.fold_windows(state, None, [report(-600, 1)], rollups.JOB)
    assert after == {"x": 1, w.WATERMARK_FIELD: us(100), w.LATE_FIELD: 1}
    assert change.panes == {} and state[w.LATE_FIELD] == 0


def snap(offset_s: float, cpu: float, memory: float) -> NodeSnapshot:
    at = ISO + timedelta(seconds=offset_s)
    return NodeSnapshot(event_id=snapshot_event_id("n1", at), source="test", ts=at,
                        node_id="n1", cpu_percent=cpu, memory_percent=memory)


def test_node_windows_average_and_max_each_figure_over_its_snapshots() -> None:
    node = Key(rollups.NODE)
    node.batch([(us(5), rollups.node_sample(snap(5, 10.0, 40.0), NodeRates(None, None))),
                (us(20), rollups.node_sample(snap(20, 30.0, 60.0), NodeRates(100.0, 50.0))),
                (us(50), rollups.node_sample(snap(50, 20.0, 50.0), NodeRates(300.0, None)))])
    [window] = node.view()["windows"]["tumbling_1m"]
    assert window == {
        "start": iso(0), "end": iso(60), "samples": 3,
        "cpu_percent": {"avg": 20.0, "max": 30.0},
        "memory_percent": {"avg": 50.0, "max": 60.0},
        "network_rx_bytes_per_second": {"avg": 200.0, "max": 300.0},
        "network_tx_bytes_per_second": {"avg": 50.0, "max": 50.0},
    }
    assert len(node.view()["windows"]["hopping_5m"]) == 5


def test_a_node_with_no_rate_yet_shows_null_figures() -> None:
    node = Key(rollups.NODE)
    node.batch([(us(5), rollups.node_sample(snap(5, 10.0, 40.0), NodeRates(None, None)))])
    [window] = node.view()["windows"]["tumbling_1m"]
    assert window["network_rx_bytes_per_second"] == {"avg": None, "max": None}


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**10))
def test_held_and_expired_panes_are_exactly_those_pane_held_says(watermark_us: int,
                                                                 advance_us: int) -> None:
    start = us(0) + watermark_us
    panes = w.held_panes(start)
    assert all(w.pane_held(pane, start) for pane in panes)
    assert not w.pane_held(panes.start - w.PANE_S, start)
    change = w.update(start, 0, [(start + advance_us, rollups.job_sample(0))], rollups.JOB)
    assert change.expired == tuple(pane for pane in panes
                                   if not w.pane_held(pane, start + advance_us))


_RATE = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9).map(float))


@given(st.lists(st.tuples(st.integers(0, 100).map(float), st.integers(0, 100).map(float),
                          _RATE, _RATE), min_size=2, max_size=8))
def test_combining_a_panes_samples_at_once_is_merging_them_one_by_one(
        figures: list[tuple[float, float, float | None, float | None]]) -> None:
    samples = [rollups.node_sample(snap(i, cpu, memory), NodeRates(rx, tx))
               for i, (cpu, memory, rx, tx) in enumerate(figures)]
    merged = samples[0]
    for sample in samples[1:]:
        merged = rollups.NODE.merge(merged, sample)
    assert rollups.NODE.combine(samples) == merged
    jobs = [rollups.job_sample(round(cpu)) for cpu, *_ in figures]
    merged = jobs[0]
    for job in jobs[1:]:
        merged = rollups.JOB.merge(merged, job)
    assert rollups.JOB.combine(jobs) == merged


def test_every_late_event_of_a_batch_is_counted() -> None:
    # Watermark at +1000 s: panes ending at or before +460 s (1000 - 540) are gone.
    change = w.update(us(1000), 3, [report(0, 10), report(30, 20), report(990, 30)],
                      rollups.JOB)
    assert (change.late, change.late_dropped) == (2, 5)
    assert list(change.panes) == [T0 + 960]


def test_a_pane_ending_exactly_at_the_keep_bound_is_late_and_the_next_one_is_not() -> None:
    # Watermark +600 s, panes kept 540 s: the pane [0, 60) ends exactly at the bound.
    change = w.update(us(600), 0, [report(59, 1), report(60, 2)], rollups.JOB)
    assert change.late == 1
    assert list(change.panes) == [T0 + 60]


def test_a_window_ending_exactly_at_the_expiry_is_no_longer_held() -> None:
    assert not w.held(T0 + 100, us(400))  # ends 300 s (the expiry) before the watermark
    assert w.held(T0 + 101, us(400))


def test_no_watermark_means_nothing_held_and_nothing_late_yet() -> None:
    assert list(w.held_panes(None)) == []
    assert w.watermark_of(None) is None
    assert w.late_dropped_of(None) == 0


def test_windows_older_than_the_expiry_are_skipped_and_the_held_ones_still_shown() -> None:
    # Panes at +0 and +300 s, watermark +600 s: hopping windows ending at or before +300 s
    # are expired; the five starting +60..+300 s hold the +300 pane only.
    panes = {T0: rollups.job_sample(5), T0 + 300: rollups.job_sample(7)}
    found = w.windows(w.HOPPING_5M, panes, us(600), rollups.JOB.merge)
    assert [(start - T0, end - T0) for start, end, _ in found] == [
        (60, 360), (120, 420), (180, 480), (240, 540), (300, 600)]
    assert all(agg == rollups.job_sample(7) for _, _, agg in found)
