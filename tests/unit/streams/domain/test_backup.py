"""The backup-job fold: order-independent totals, speed, ETA, restarts, endings and staleness."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.adapters.seed003 import from_seed_body
from schemas.backup import BackupProgress
from schemas.event import MAX_SECONDS
from streams.domain.backup import (
    STALLED,
    apply_events,
    resume_alerts,
    summary,
    sweep,
)

T0 = datetime(2025, 10, 10, 14, 35, 42, tzinfo=UTC)
US = 1_000_000


def report(seq: int, disks: list[int], *, status: str = "running", at: datetime | None = None,
           totals: list[int] | None = None, total: int = 0, phase: str = "transferring",
           **claims: float) -> BackupProgress:
    sizes: list[int | None] = list(totals) if totals else [None] * len(disks)
    return BackupProgress.model_validate({
        "event_id": uuid.uuid4(), "source": "test", "ts": at or T0 + timedelta(seconds=seq),
        "job_id": "job-1", "job_type": "backup", "status": status, "current_phase": phase,
        "seq": seq, "total_bytes": total, **claims,
        "disks": [{"disk_index": i, "bytes_transferred": b, "total_bytes": sizes[i],
                   "status": "transferring"} for i, b in enumerate(disks)]})


def fold_one_by_one(events: list[BackupProgress]) -> dict[str, Any] | None:
    state = None
    for event in events:
        state = apply_events(state, [event])
    return state


def test_job_bytes_are_the_sum_of_its_disks_not_zero() -> None:
    """Regression for seed 003's bug: backup_jobs.bytes_transferred stuck at 0."""
    state = apply_events(None, [report(1, [100, 250, 50], total=1000)])
    assert state is not None
    assert state["bytes_transferred"] == 400
    assert state["progress_percent"] == 40.0


def test_speed_and_eta_come_from_event_time() -> None:
    events = [report(s, [s * 10 * 1024**2], total=1024**3) for s in range(1, 6)]
    state = apply_events(None, events)
    assert state is not None
    assert state["transfer_speed_bps"] == 10 * 1024**2
    remaining = 1024**3 - 50 * 1024**2
    assert state["eta_seconds"] == remaining // (10 * 1024**2) + 1


def test_duplicate_and_older_reports_change_nothing() -> None:
    first, second = report(1, [100]), report(2, [200])
    state = apply_events(None, [first, second])
    assert apply_events(state, [second, first, second]) == state


def test_restarted_disk_copy_is_taken_as_reported() -> None:
    state = apply_events(None, [report(1, [500, 500], total=2000), report(2, [600, 100])])
    assert state is not None
    assert state["bytes_transferred"] == 700
    assert state["disks"]["1"]["bytes_transferred"] == 100


def test_completion_freezes_totals_and_later_reports_are_ignored() -> None:
    events = [report(1, [0], total=100), report(2, [50]),
              report(3, [100], status="completed", phase="done")]
    done = apply_events(None, events)
    assert done is not None
    assert (done["status"], done["progress_percent"], done["eta_seconds"]) == ("completed", 100, 0)
    assert done["completed_us"] is not None
    later = apply_events(done, [report(4, [7], status="running")])
    assert later is not None
    assert summary(later)["bytes_transferred"] == 100
    assert later["status"] == "completed"


def test_terminal_report_arriving_late_overrides_reports_sent_after_it() -> None:
    events = [report(1, [10]), report(2, [20], status="failed"), report(3, [30])]
    in_order = apply_events(None, events)
    late_terminal = apply_events(apply_events(None, [events[0], events[2]]), [events[1]])
    assert late_terminal == in_order
    assert in_order is not None and in_order["status"] == "failed"


def test_stale_then_stalled_then_resumed_raises_each_once_and_clears_both() -> None:
    state = apply_events(None, [report(1, [10])])
    assert state is not None
    last = state["last_telemetry_us"]
    assert sweep(state, last + 2 * US, 3, 6) is None
    stale, raised = sweep(state, last + 3 * US, 3, 6) or (state, [])
    assert [(a.kind, a.state) for a in raised] == [("backup.stale", "raised")]
    assert raised[0].at == T0 + timedelta(seconds=4)
    assert sweep(stale, last + 4 * US, 3, 6) is None, "no second alert for the same level"
    stalled, raised = sweep(stale, last + 7 * US, 3, 6) or (stale, [])
    assert [a.kind for a in raised] == ["backup.stalled"]
    assert stalled["stale_level"] == STALLED
    resumed = apply_events(stalled, [report(2, [20])])
    assert resumed is not None and resumed["stale_level"] == 0
    cleared = resume_alerts(stalled, resumed)
    assert sorted((a.kind, a.state) for a in cleared) == [
        ("backup.stale", "cleared"), ("backup.stalled", "cleared")]


def test_a_re_raised_alert_has_the_same_id() -> None:
    state = apply_events(None, [report(1, [10])])
    assert state is not None
    now = state["last_telemetry_us"] + 10 * US
    first = sweep(state, now, 3, 6)
    again = sweep(state, now + US, 3, 6)
    assert first and again
    assert [a.alert_id for a in first[1]] == [a.alert_id for a in again[1]]
    assert first[0]["stale_level"] == STALLED and len(first[1]) == 2


def test_ended_jobs_never_go_stale() -> None:
    state = apply_events(None, [report(1, [10], status="completed")])
    assert state is not None
    assert sweep(state, state["last_telemetry_us"] + 3600 * US, 3, 6) is None


# The fold's order-independence is the property most worth searching: three times the profile's
# examples (300 by default; fewer under `make mutation`, tests/conftest.py).
FOLD_PROPERTY = settings(max_examples=3 * settings().max_examples, deadline=None)


@st.composite
def job_reports(draw: st.DrawFn) -> list[BackupProgress]:
    """A job's reports in send order: growing disks, maybe restarts, maybe an end and stragglers,
    and maybe several reports within one second (seed 003: one `seq`, more bytes or a new
    phase, or the same figures again)."""
    n_disks = draw(st.integers(1, 4))
    n = draw(st.integers(1, 12))
    totals = [draw(st.integers(1, 10_000)) for _ in range(n_disks)]
    counters = [0] * n_disks
    at = T0
    events = []
    end_at = draw(st.one_of(st.none(), st.integers(1, n)))
    seq = 0
    for number in range(1, n + 1):
        same_second = seq > 0 and draw(st.integers(0, 3)) == 0
        if not same_second:
            seq += 1
            at += timedelta(microseconds=draw(st.integers(1, 5 * US)))
        for i in range(n_disks):
            if draw(st.integers(0, 9)) == 0:
                counters[i] = draw(st.integers(0, counters[i]))  # restarted copy
            else:
                counters[i] += draw(st.integers(0, 3000))
        status = "running"
        if end_at == number:
            status = draw(st.sampled_from(["completed", "failed", "cancelled"]))
        phase = draw(st.sampled_from(["transferring", "verifying"]))
        events.append(report(seq, list(counters), status=status, at=at, totals=totals,
                             phase=phase))
    return events


@FOLD_PROPERTY
@given(events=job_reports(), data=st.data())
def test_any_order_with_duplicates_gives_the_ordered_state(
        events: list[BackupProgress], data: st.DataObject) -> None:
    ordered = fold_one_by_one(events)
    delivered = data.draw(st.permutations(
        events + data.draw(st.lists(st.sampled_from(events), max_size=6))))
    state = None
    position = 0
    while position < len(delivered):
        size = data.draw(st.integers(1, 5))
        state = apply_events(state, delivered[position:position + size])
        position += size
    assert state == ordered


@FOLD_PROPERTY
@given(events=job_reports(), data=st.data())
def test_percent_in_range_and_bytes_only_drop_on_a_restarted_disk(
        events: list[BackupProgress], data: st.DataObject) -> None:
    delivered = data.draw(st.permutations(events))
    state: dict[str, Any] | None = None
    for event in delivered:
        before = state
        state = apply_events(state, [event])
        assert state is not None
        assert state["progress_percent"] is None or 0 <= state["progress_percent"] <= 100
        assert state["transfer_speed_bps"] is None or state["transfer_speed_bps"] >= 0
        if before is not None and state["bytes_transferred"] < before["bytes_transferred"]:
            dropped = [k for k, d in state["disks"].items()
                       if d["bytes_transferred"] < before["disks"][k]["bytes_transferred"]]
            assert dropped, "job bytes went down without a disk going down"
            restarted = any(
                later.seq > earlier.seq
                and later.disks[int(k)].bytes_transferred < earlier.disks[int(k)].bytes_transferred
                for k in dropped for earlier in events for later in events)
            ended_override = state["ended_seq"] is not None and (
                before["ended_seq"] != state["ended_seq"])
            assert restarted or ended_override


def test_an_eta_beyond_any_storable_duration_is_unknown() -> None:
    # Regression: 1 byte in 2 s towards a total of 2^63-1 bytes overflowed the bigint column.
    slow = [report(1, [0], total=2**63 - 1, at=T0),
            report(2, [1], total=2**63 - 1, at=T0 + timedelta(seconds=2))]
    state = apply_events(None, slow)
    assert state is not None and state["transfer_speed_bps"] == 0.5
    assert state["eta_seconds"] is None


def spaced(seconds: int, *counters: int, total: int = 0) -> list[BackupProgress]:
    """Running reports `seconds` apart (not 1 s: Δt must really be divided by), one disk each."""
    return [report(seq, [done], at=T0 + timedelta(seconds=seq * seconds), total=total)
            for seq, done in enumerate(counters, 1)]


def test_speed_weights_the_newest_rate_by_the_smoothing_factor() -> None:
    # Rates 100 B/s then 200 B/s: 0.3 * 200 + 0.7 * 100 = 130 (swapped weights would give 170).
    state = apply_events(None, spaced(2, 0, 200, 600, total=10_000))
    assert state is not None
    assert state["transfer_speed_bps"] == pytest.approx(130.0)
    assert state["eta_seconds"] == 73  # ceil((10_000 - 600) / 130)


def test_speed_and_eta_follow_a_falling_rate_with_a_lag() -> None:
    # Rates 400, 400, 100, 100 B/s (2 s apart): 400, 400, 310, 247 smoothed.
    state = apply_events(None, spaced(2, 0, 800, 1600, 1800, 2000, total=100_000))
    assert state is not None
    assert state["transfer_speed_bps"] == pytest.approx(247.0)
    assert state["eta_seconds"] == 397  # ceil(98_000 / 247)
    rising = apply_events(state, spaced(2, 0, 800, 1600, 1800, 2000, 4000)[5:])
    assert rising is not None  # one more interval at 1000 B/s: 0.3 * 1000 + 0.7 * 247
    assert rising["transfer_speed_bps"] == pytest.approx(472.9)


def test_speed_only_looks_at_the_newest_sample_window() -> None:
    # Two huge intervals, then 100 B/s: with the 8-report window only the 100 B/s remain.
    counters = [0, 10**9, 2 * 10**9, *(2 * 10**9 + 100 * n for n in range(1, 8))]
    state = apply_events(None, spaced(1, *counters))
    assert state is not None
    assert len(state["samples"]) == 8
    assert state["transfer_speed_bps"] == pytest.approx(100.0)


def test_an_ended_job_reports_its_average_speed_over_the_whole_job() -> None:
    # 1000 bytes between the first report (t=2 s) and the end (t=10 s): 125 B/s, whatever the
    # smoothed speed was before.
    for outcome, eta, percent in (("completed", 0, 100.0), ("failed", None, 50.0),
                                  ("cancelled", None, 50.0)):
        events = [*spaced(2, 0, 100, 900, 950, total=2000),
                  report(5, [1000], status=outcome, at=T0 + timedelta(seconds=10), total=2000)]
        state = apply_events(None, events)
        assert state is not None
        assert state["transfer_speed_bps"] == pytest.approx(125.0), outcome
        assert (state["eta_seconds"], state["progress_percent"]) == (eta, percent), outcome
        assert state["completed_us"] == state["last_telemetry_us"], outcome


def test_an_older_report_never_moves_job_fields_or_the_version_back() -> None:
    """The fold's monotonic guard: `version` (the rows' last_seq) is the highest seq seen."""
    newer = apply_events(None, [report(5, [500], phase="verifying", total=1000)])
    older = apply_events(newer, [report(3, [300], phase="transferring", total=1000)])
    assert older is not None and newer is not None
    assert (older["version"], older["last_seq"], older["current_phase"]) == (5, 5, "verifying")
    assert older["bytes_transferred"] == 500
    assert summary(older)["last_seq"] == 5


def test_staleness_starts_at_exactly_the_threshold() -> None:
    state = apply_events(None, [report(1, [10])])
    assert state is not None
    last = state["last_telemetry_us"]
    assert sweep(state, last + 3 * US - 1, 3, 6) is None
    assert sweep(state, last + 3 * US, 3, 6) is not None
    stale, _ = sweep(state, last + 3 * US, 3, 6) or (state, [])
    assert sweep(stale, last + 6 * US - 1, 3, 6) is None
    assert sweep(stale, last + 6 * US, 3, 6) is not None


GB = 1024**3


def both_orders(first: BackupProgress, second: BackupProgress) -> dict[str, Any]:
    forward, backward = apply_events(None, [first, second]), apply_events(None, [second, first])
    one_by_one = fold_one_by_one([second, first])
    assert forward == backward == one_by_one, "the fold depends on the arrival order"
    assert forward is not None
    return forward


def test_regression_two_seed_reports_in_one_second_both_count() -> None:
    """Issue 10 item 10: seq is seed 003's one-second timestamp; the second report of a second
    was dropped, so 1 GB then 2 GB ended at 1 GB (the other order at 2 GB)."""
    state = both_orders(report(7, [1 * GB], total=10 * GB, at=T0),
                        report(7, [2 * GB], total=10 * GB, at=T0))
    assert state["bytes_transferred"] == 2 * GB
    assert state["disks"]["0"]["bytes_transferred"] == 2 * GB
    assert state["progress_percent"] == 20.0


def test_the_end_of_a_job_in_the_same_second_as_a_running_report_ends_it_in_either_order() -> None:
    state = both_orders(report(7, [5 * GB], at=T0),
                        report(7, [5 * GB], status="completed", phase="done", at=T0))
    assert (state["status"], state["current_phase"], state["eta_seconds"]) == (
        "completed", "done", 0)


def test_a_new_phase_with_the_same_bytes_in_one_second_gives_one_result_in_either_order() -> None:
    copying = report(7, [GB], phase="transferring", at=T0)
    verifying = report(7, [GB], phase="verifying", at=T0)
    state = both_orders(copying, verifying)
    winner = max((copying, verifying), key=lambda e: str(e.event_id))
    assert state["current_phase"] == winner.current_phase


def test_an_exact_re_send_of_a_seed_body_changes_nothing() -> None:
    body = {"job_type": "backup", "status": "running", "current_phase": "transferring",
            "total_bytes": 10 * GB, "timestamp": "2025-10-10T14:35:42Z",
            "disks": [{"disk_index": 0, "bytes_transferred": GB, "status": "transferring"}]}
    more = {**body, "disks": [{"disk_index": 0, "bytes_transferred": 2 * GB,
                               "status": "transferring"}]}
    first, second = (from_seed_body("backup", "job-1", orjson.dumps(b), "http:a")
                     for b in (body, more))
    again = from_seed_body("backup", "job-1", orjson.dumps(dict(reversed(body.items()))),
                           "http:b")
    assert again.event_id == first.event_id and again.seq == second.seq
    state = apply_events(None, [first, second])
    assert state is not None and state["bytes_transferred"] == 2 * GB
    assert apply_events(state, [again, second, first]) == state
    assert apply_events(apply_events(None, [second]), [first, again]) == state


def test_a_late_report_of_the_latest_second_does_not_end_a_stale_spell() -> None:
    state = apply_events(None, [report(1, [10], at=T0)])
    assert state is not None
    stale, _ = sweep(state, state["last_telemetry_us"] + 4 * US, 3, 6) or (state, [])
    late = apply_events(stale, [report(1, [20], at=T0)])
    assert late is not None and late["bytes_transferred"] == 20
    assert late["stale_level"] == stale["stale_level"] == 1
    assert resume_alerts(stale, late) == []


def test_regression_the_first_report_shows_the_clients_speed_and_eta() -> None:
    """Issue 10 item 11: speed and ETA were null until a second report gave the stream its own."""
    first = report(1, [GB], total=10 * GB, at=T0, transfer_speed_bps=3 * GB, eta_seconds=3)
    state = apply_events(None, [first])
    assert state is not None
    assert (state["transfer_speed_bps"], state["eta_seconds"]) == (3 * GB, 3)
    assert summary(state)["transfer_speed_bps"] == 3 * GB
    same_second = apply_events(state, [report(1, [2 * GB], total=10 * GB, at=T0,
                                              transfer_speed_bps=4 * GB, eta_seconds=2)])
    assert same_second is not None
    assert (same_second["transfer_speed_bps"], same_second["eta_seconds"]) == (4 * GB, 2)
    # Once two reports have time between them, the stream's own estimate takes over.
    own = apply_events(same_second, [report(2, [3 * GB], total=10 * GB, at=T0 + timedelta(
        seconds=2), transfer_speed_bps=99 * GB, eta_seconds=1)])
    assert own is not None
    assert own["transfer_speed_bps"] == GB // 2
    assert own["eta_seconds"] == 14  # 7 GB left at 0.5 GB/s


def test_a_clients_speed_without_an_eta_gives_an_eta_from_that_speed() -> None:
    state = apply_events(None, [report(1, [GB], total=3 * GB, transfer_speed_bps=GB / 4)])
    assert state is not None and state["eta_seconds"] == 8
    crawl = apply_events(None, [report(1, [0], total=2**62, transfer_speed_bps=1e-300)])
    assert crawl is not None and crawl["eta_seconds"] is None, "no overflow, no usable ETA"
    silent = apply_events(None, [report(1, [GB], total=3 * GB)])
    assert silent is not None
    assert (silent["transfer_speed_bps"], silent["eta_seconds"]) == (None, None)


# The cases below came out of `make mutation` (docs/testing.md): each pins a rule a planted bug
# broke without any other test noticing. Expected figures are worked out by hand.

def indexed(seq: int, disks: dict[int, int], **fields: Any) -> BackupProgress:
    """A running report of disks by `disk_index` (bytes transferred of 1000 each), at T0 + seq s."""
    return BackupProgress.model_validate({
        "event_id": uuid.uuid4(), "source": "test", "ts": T0 + timedelta(seconds=seq),
        "job_id": "job-1", "job_type": "backup", "status": "running",
        "current_phase": "transferring", "seq": seq, **fields,
        "disks": [{"disk_index": i, "bytes_transferred": b, "total_bytes": 1000,
                   "status": "transferring"} for i, b in disks.items()]})


def test_the_summary_is_what_views_and_the_cli_show() -> None:
    # Disks 10 and 2 (10 first: sorted by number, not by text or arrival). 400 B at 14:35:43,
    # 800 B at 14:35:45: 200 B/s, 800 of 2000 B (the disks' totals): 40 %, 1200 B left: 6 s.
    state = apply_events(None, [indexed(1, {10: 300, 2: 100}), indexed(3, {10: 500, 2: 300})])
    assert state is not None
    stale, _ = sweep(state, state["last_telemetry_us"] + 5 * US, 3, 6) or (state, [])
    assert summary(stale) == {
        "job_id": "job-1", "job_type": "backup", "status": "running",
        "current_phase": "transferring", "bytes_transferred": 800, "total_bytes": 2000,
        "transfer_speed_bps": 200.0, "eta_seconds": 6, "progress_percent": 40.0,
        "started_at": "2025-10-10T14:35:43Z", "last_telemetry_at": "2025-10-10T14:35:45Z",
        "completed_at": None, "stale": True, "stale_level": "stale", "staleness": "stale",
        "stale_since": "2025-10-10T14:35:48Z", "error": None, "last_seq": 3,
        "disks": [
            {"disk_index": 2, "bytes_transferred": 300, "total_bytes": 1000,
             "progress_percent": 30.0, "status": "transferring"},
            {"disk_index": 10, "bytes_transferred": 500, "total_bytes": 1000,
             "progress_percent": 50.0, "status": "transferring"}]}
    failed = apply_events(stale, [indexed(4, {10: 600, 2: 300}, status="failed",
                                          error="disk 10: target full")])
    assert failed is not None
    shown = summary(failed)
    assert (shown["completed_at"], shown["error"]) == ("2025-10-10T14:35:46Z",
                                                       "disk 10: target full")
    assert (shown["stale"], shown["stale_level"], shown["staleness"]) == (False, "fresh", "fresh")


def test_a_job_at_zero_bytes_is_at_zero_percent() -> None:
    state = apply_events(None, [report(1, [0], total=1000)])
    assert state is not None and state["progress_percent"] == 0.0


@pytest.mark.parametrize(("first_end", "second_end"), [(1, 2), (3, 5)])
def test_of_two_terminal_reports_the_earlier_seq_ends_the_job_in_either_order(
        first_end: int, second_end: int) -> None:
    failed = report(first_end, [100], status="failed", phase="aborted")
    completed = report(second_end, [200], status="completed", phase="done")
    state = both_orders(failed, completed)
    assert (state["status"], state["current_phase"], state["bytes_transferred"]) == (
        "failed", "aborted", 100)
    assert state["ended_seq"] == first_end


def test_of_two_terminal_reports_in_one_second_the_one_that_got_further_ends_the_job() -> None:
    state = both_orders(report(7, [5 * GB], status="failed", at=T0),
                        report(7, [6 * GB], status="completed", phase="done", at=T0))
    assert (state["status"], state["bytes_transferred"]) == ("completed", 6 * GB)


def test_a_disk_stored_before_ranks_existed_still_takes_newer_reports() -> None:
    state = apply_events(None, [report(1, [100])])
    assert state is not None
    legacy = {**state, "disks": {"0": {k: v for k, v in state["disks"]["0"].items()
                                       if k != "rank"}}}
    newer = apply_events(legacy, [report(2, [250])])
    assert newer is not None and newer["disks"]["0"]["bytes_transferred"] == 250


def test_speed_leaves_out_reports_of_no_time_counts_standstills_and_skips_restarts() -> None:
    # Two seqs at one event time (no Δt), then 200 B in 2 s: 100 B/s.
    same_time = [report(1, [0], at=T0), report(2, [100], at=T0),
                 report(3, [300], at=T0 + timedelta(seconds=2))]
    state = apply_events(None, same_time)
    assert state is not None and state["transfer_speed_bps"] == pytest.approx(100.0)
    # 100 B/s, then standing still (0 B/s is a rate too): 0.3 * 0 + 0.7 * 100 = 70.
    state = apply_events(None, spaced(2, 0, 200, 200))
    assert state is not None and state["transfer_speed_bps"] == pytest.approx(70.0)
    # 100 B/s, a restarted copy (left out), then 200 B/s: 0.3 * 200 + 0.7 * 100 = 130.
    state = apply_events(None, spaced(2, 0, 200, 100, 500))
    assert state is not None and state["transfer_speed_bps"] == pytest.approx(130.0)


def test_a_pending_job_never_goes_stale() -> None:
    state = apply_events(None, [report(1, [0], status="pending")])
    assert state is not None
    assert sweep(state, state["last_telemetry_us"] + 3600 * US, 3, 6) is None


def test_no_clearing_alert_without_a_state_before() -> None:
    state = apply_events(None, [report(1, [10])])
    assert state is not None and resume_alerts(None, state) == []


def test_raised_alerts_carry_their_detail_and_clearing_alerts_name_what_they_clear() -> None:
    state = apply_events(None, [report(1, [10])])
    assert state is not None
    last = state["last_telemetry_us"]
    stale, (stale_alert,) = sweep(state, last + 4 * US, 3, 6) or (state, [])
    assert stale["stale_since_us"] == last + 3 * US
    assert stale_alert.detail == {"job_type": "backup", "last_telemetry_at": T0 + timedelta(
        seconds=1)}
    stalled, (stalled_alert,) = sweep(stale, last + 9 * US, 3, 6) or (stale, [])
    assert stalled_alert.at == T0 + timedelta(seconds=7)  # 1 s + the 6 s threshold
    assert stalled["stale_since_us"] == last + 3 * US, "a spell starts once, when it went stale"
    assert stalled["open_alerts"] == {"backup.stale": stale_alert.alert_id,
                                      "backup.stalled": stalled_alert.alert_id}
    resumed = apply_events(stalled, [report(2, [20])])
    assert resumed is not None
    cleared = resume_alerts(stalled, resumed)
    assert {(a.kind, a.clears, a.at, a.detail["job_type"]) for a in cleared} == {
        ("backup.stale", stale_alert.alert_id, T0 + timedelta(seconds=2), "backup"),
        ("backup.stalled", stalled_alert.alert_id, T0 + timedelta(seconds=2), "backup")}
    assert (resumed["stale_since_us"], resumed["open_alerts"]) == (None, {})


def test_a_job_silent_past_both_thresholds_at_once_was_stale_from_the_first() -> None:
    state = apply_events(None, [report(1, [10])])
    assert state is not None
    stalled, alerts = sweep(state, state["last_telemetry_us"] + 60 * US, 3, 6) or (state, [])
    assert [a.kind for a in alerts] == ["backup.stale", "backup.stalled"]
    assert stalled["stale_since_us"] == state["last_telemetry_us"] + 3 * US


def test_a_first_report_of_seq_zero_sets_the_job_fields() -> None:
    state = apply_events(None, [report(0, [10], phase="preparing", total=100)])
    assert state is not None
    assert (state["current_phase"], state["last_seq"], state["bytes_transferred"]) == (
        "preparing", 0, 10)


def test_samples_stored_before_ranks_existed_are_replaced_by_a_report_of_their_seq() -> None:
    state = apply_events(None, [report(1, [100])])
    assert state is not None
    legacy = {**state, "samples": [sample[:3] for sample in state["samples"]]}
    # seq 1 again with 300 B replaces the 100 B sample; then 400 B more in 2 s: 200 B/s.
    later = apply_events(legacy, [report(1, [300]), report(3, [700])])
    assert later is not None and later["transfer_speed_bps"] == pytest.approx(200.0)


def test_speed_samples_follow_seq_not_a_sender_clock_that_stepped_back() -> None:
    # By seq: 10 s -> 5 s has no Δt (left out), then 300 B in 15 s: 20 B/s. Ordered by event
    # time it would be 5 s -> 10 s (bytes down, left out), then 400 B in 10 s: 40 B/s.
    events = [report(1, [0], at=T0 + timedelta(seconds=10)),
              report(2, [100], at=T0 + timedelta(seconds=5)),
              report(3, [400], at=T0 + timedelta(seconds=20))]
    state = apply_events(None, events)
    assert state is not None and state["transfer_speed_bps"] == pytest.approx(20.0)


def test_a_job_ended_before_ranks_existed_stays_ended() -> None:
    ended = apply_events(None, [report(1, [50]), report(2, [100], status="completed")])
    assert ended is not None
    legacy = {k: v for k, v in ended.items() if k != "ended_rank"}
    later = apply_events(legacy, [report(3, [7], status="running", phase="restarted")])
    assert later is not None
    assert (later["status"], later["current_phase"], later["bytes_transferred"]) == (
        "completed", "transferring", 100)


def test_a_report_sent_before_the_end_still_fills_in_a_disk_the_end_did_not_list() -> None:
    # The end (seq 5) lists disk 0 only; seq 4, delivered after it, is the last word on disk 1.
    end = report(5, [500], status="completed", phase="done")
    before_end = report(4, [400, 300])
    state = both_orders(end, before_end)
    assert state["disks"]["0"]["bytes_transferred"] == 500
    assert state["disks"]["1"]["bytes_transferred"] == 300
    assert (state["status"], state["bytes_transferred"]) == ("completed", 800)


def test_a_state_stored_before_ranks_existed_takes_the_next_report() -> None:
    state = apply_events(None, [report(1, [50], phase="transferring")])
    assert state is not None
    legacy = {k: v for k, v in state.items() if k != "last_rank"}
    later = apply_events(legacy, [report(2, [90], phase="verifying")])
    assert later is not None and (later["current_phase"], later["last_seq"]) == ("verifying", 2)


def test_the_job_type_comes_from_the_highest_ranked_report() -> None:
    first = report(1, [10])
    renamed = report(2, [20]).model_copy(update={"job_type": "replication"})
    assert both_orders(first, renamed)["job_type"] == "replication"


def test_a_job_without_disks_shows_its_own_bytes() -> None:
    events = [BackupProgress.model_validate({
        "event_id": uuid.uuid4(), "source": "test", "ts": T0 + timedelta(seconds=seq),
        "job_id": "job-1", "job_type": "backup", "status": "running",
        "current_phase": "transferring", "seq": seq, "bytes_transferred": done,
        "total_bytes": 1000}) for seq, done in ((1, 100), (2, 300))]
    state = both_orders(*events)
    assert (state["bytes_transferred"], state["progress_percent"]) == (300, 30.0)


def test_the_clients_eta_is_shown_as_sent_until_the_stream_has_its_own() -> None:
    # 9 GB left at the claimed 3 GB/s would be 3 s; the client says 10 s, and that is shown.
    state = apply_events(None, [report(1, [GB], total=10 * GB, transfer_speed_bps=3 * GB,
                                       eta_seconds=10)])
    assert state is not None and state["eta_seconds"] == 10


def test_a_disk_without_a_total_shows_the_percent_it_reported() -> None:
    event = BackupProgress.model_validate({
        "event_id": uuid.uuid4(), "source": "test", "ts": T0, "job_id": "job-1",
        "job_type": "backup", "status": "running", "current_phase": "transferring", "seq": 1,
        "disks": [{"disk_index": 0, "bytes_transferred": 5, "progress_percent": 42.5}]})
    state = apply_events(None, [event])
    assert state is not None and state["disks"]["0"]["progress_percent"] == 42.5


def test_a_job_ended_within_a_second_has_an_average_speed() -> None:
    # 1000 B between the first report and the end half a second later: 2000 B/s.
    events = [report(1, [0], at=T0),
              report(2, [1000], status="completed", at=T0 + timedelta(milliseconds=500))]
    state = apply_events(None, events)
    assert state is not None and state["transfer_speed_bps"] == pytest.approx(2000.0)


def test_a_running_job_with_everything_copied_has_an_eta_of_zero() -> None:
    state = apply_events(None, spaced(2, 0, 1000, total=1000))  # 500 B/s, nothing left
    assert state is not None
    assert (state["eta_seconds"], state["progress_percent"]) == (0, 100.0)


def test_the_longest_storable_eta_is_still_shown() -> None:
    # At 1 B/s (the client's), MAX_SECONDS bytes left take exactly MAX_SECONDS: still shown.
    state = apply_events(None, [report(1, [0], total=MAX_SECONDS, transfer_speed_bps=1.0)])
    assert state is not None and state["eta_seconds"] == MAX_SECONDS


def test_a_disk_at_exactly_one_percent_shows_one_percent() -> None:
    state = apply_events(None, [report(1, [10], totals=[1000])])
    assert state is not None and state["disks"]["0"]["progress_percent"] == 1.0
    assert summary(state)["disks"][0]["progress_percent"] == 1.0
