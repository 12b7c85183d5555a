"""Worker activity rules: latest heartbeat wins, one alert per transition, deterministic times."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.alert import Alert
from schemas.worker import RunningTask, WorkerHeartbeat
from streams.domain.worker import (
    ALERT_KIND,
    apply_heartbeats,
    basic,
    from_micros,
    inactive_at,
    sweep,
    telemetry,
)

T0 = datetime(2025, 10, 10, 14, 0, tzinfo=UTC)
US = 1_000_000
THRESHOLD = 30.0


def beat(second: float, cpu: float = 10.0, worker_id: str = "w1") -> WorkerHeartbeat:
    return WorkerHeartbeat(event_id=uuid.uuid4(), source="test", ts=T0 + timedelta(seconds=second),
                           worker_id=worker_id, cpu_usage=cpu, memory_usage=50.0)


def at(second: float) -> int:
    return round((T0 + timedelta(seconds=second)).timestamp() * US)


def test_first_heartbeat_makes_an_active_worker_without_an_alert() -> None:
    result = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD)
    assert result is not None
    state, alerts = result
    assert state["is_active"] and alerts == []
    assert telemetry(state)["last_update"] == int(T0.timestamp())


def test_a_worker_first_seen_through_an_old_heartbeat_starts_inactive_silently() -> None:
    result = apply_heartbeats(None, [beat(0)], at(100), THRESHOLD)
    assert result is not None
    state, alerts = result
    assert not state["is_active"] and alerts == []
    assert state["inactive_since_us"] == at(30)


def test_silence_raises_once_at_last_heartbeat_plus_threshold() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    assert sweep(state, at(29.9), THRESHOLD) is None
    result = sweep(state, at(45), THRESHOLD)
    assert result is not None
    inactive, alert = result
    assert (alert.kind, alert.subject, alert.state) == (ALERT_KIND, "w1", "raised")
    assert alert.at == T0 + timedelta(seconds=30)
    assert not inactive["is_active"]
    assert sweep(inactive, at(60), THRESHOLD) is None, "an inactive worker is not raised again"
    # Sweeping later (another stream worker after a crash) gives the same alert id.
    again = sweep(state, at(500), THRESHOLD)
    assert again is not None and again[1].alert_id == alert.alert_id


def test_a_fresh_heartbeat_clears_once_at_its_own_time() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    inactive, _ = sweep(state, at(45), THRESHOLD) or ({}, None)
    result = apply_heartbeats(inactive, [beat(50), beat(51)], at(52), THRESHOLD)
    assert result is not None
    active, alerts = result
    assert active["is_active"] and active["inactive_since_us"] is None
    assert [(a.state, a.at) for a in alerts] == [("cleared", T0 + timedelta(seconds=50))]
    more = apply_heartbeats(active, [beat(52)], at(53), THRESHOLD)
    assert more is not None and more[1] == []


def test_the_clearing_alert_names_the_inactive_alert_it_ends() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    swept = sweep(state, at(45), THRESHOLD)
    assert swept is not None
    inactive, raised = swept
    result = apply_heartbeats(inactive, [beat(50)], at(52), THRESHOLD)
    assert result is not None
    [cleared] = result[1]
    assert (raised.state, raised.at) == ("raised", T0 + timedelta(seconds=THRESHOLD))
    assert cleared.clears == raised.alert_id


def test_a_heartbeat_sent_again_changes_nothing_whatever_its_id() -> None:
    # Ids that sort above and below any placeholder text the state could hold instead.
    for event_id in ("ffffffff-0000-4000-8000-000000000000",
                     "00000000-0000-4000-8000-000000000000"):
        once = beat(0).model_copy(update={"event_id": uuid.UUID(event_id)})
        state, _ = apply_heartbeats(None, [once], at(1), THRESHOLD) or ({}, [])
        assert state["event_id"] == event_id
        assert apply_heartbeats(state, [once], at(2), THRESHOLD) is None


def test_a_late_backlog_of_old_heartbeats_does_not_reactivate() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    inactive, _ = sweep(state, at(45), THRESHOLD) or ({}, None)
    result = apply_heartbeats(inactive, [beat(5)], at(100), THRESHOLD)
    assert result is not None
    after, alerts = result
    assert not after["is_active"] and alerts == [] and after["last_update_us"] == at(5)


def test_basic_stats_count_tasks_instead_of_listing_them() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    view = basic(state)
    assert "running_tasks" not in view and view["running_task_count"] == 0
    assert view["is_active"] is True and view["gpu_usage"] is None


seconds = st.floats(min_value=0, max_value=1000, allow_nan=False).map(lambda s: round(s, 3))


@given(st.lists(st.tuples(seconds, st.floats(0, 100)), min_size=1, max_size=20),
       st.randoms(use_true_random=False))
def test_the_latest_heartbeat_wins_whatever_the_order_and_duplicates(
        beats: list[tuple[float, float]], rnd: object) -> None:
    events = [beat(s, cpu) for s, cpu in beats]
    shuffled = events * 2
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    now = at(2000)
    in_order, one_by_one = apply_heartbeats(None, events, now, THRESHOLD), None
    for event in shuffled:
        step = apply_heartbeats(one_by_one, [event], now, THRESHOLD)
        one_by_one = step[0] if step is not None else one_by_one
    assert in_order is not None and one_by_one is not None
    newest = max(e.ts for e in events)
    assert from_micros(one_by_one["last_update_us"]) == newest
    assert one_by_one["last_update_us"] == in_order[0]["last_update_us"]
    assert one_by_one["cpu_usage"] == in_order[0]["cpu_usage"]


@given(st.lists(st.tuples(st.booleans(), seconds), min_size=1, max_size=30))
def test_alerts_alternate_raised_cleared_one_per_transition(
        steps: list[tuple[bool, float]]) -> None:
    """Any sequence of heartbeats and sweeps: alerts alternate and match the active flag."""
    clock = 0.0
    state, _ = apply_heartbeats(None, [beat(0)], at(0), THRESHOLD) or ({}, [])
    alerts = []
    for is_beat, advance in steps:
        clock += advance
        if is_beat:
            result = apply_heartbeats(state, [beat(clock)], at(clock), THRESHOLD)
            if result is not None:
                state, new = result
                alerts += new
        else:
            swept = sweep(state, at(clock), THRESHOLD)
            if swept is not None:
                state, alert = swept
                alerts.append(alert)
                assert alert.at == from_micros(inactive_at(alert_last(alert), THRESHOLD))
    kinds = [a.state for a in alerts]
    assert all(a != b for a, b in itertools.pairwise(kinds))
    assert not kinds or kinds[0] == "raised"
    assert state["is_active"] == (not kinds or kinds[-1] == "cleared")


def alert_last(alert: Alert) -> int:
    last: datetime = alert.detail["last_heartbeat_at"]
    return round(last.timestamp() * US)


def test_a_worker_is_inactive_at_exactly_last_heartbeat_plus_threshold() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    assert sweep(state, at(THRESHOLD) - 1, THRESHOLD) is None, "one µs before: still active"
    assert sweep(state, at(THRESHOLD), THRESHOLD) is not None, "at the threshold: inactive"
    first_seen_late = apply_heartbeats(None, [beat(0)], at(THRESHOLD), THRESHOLD)
    assert first_seen_late is not None and not first_seen_late[0]["is_active"]
    first_seen_in_time = apply_heartbeats(None, [beat(0)], at(THRESHOLD) - 1, THRESHOLD)
    assert first_seen_in_time is not None and first_seen_in_time[0]["is_active"]


def test_an_older_heartbeat_never_moves_the_state_back() -> None:
    """The fold's monotonic guard on last_update (the workers rows are guarded by it too)."""
    newer, _ = apply_heartbeats(None, [beat(10, cpu=90.0)], at(11), THRESHOLD) or ({}, [])
    assert apply_heartbeats(newer, [beat(5, cpu=1.0)], at(11), THRESHOLD) is None
    assert newer["cpu_usage"] == 90.0 and newer["last_update_us"] == at(10)


def test_telemetry_is_seed_004s_shape_with_json_ready_tasks() -> None:
    started = T0 - timedelta(minutes=5)
    heartbeat = WorkerHeartbeat(
        event_id=uuid.uuid4(), source="gpu-box", ts=T0 + timedelta(seconds=1.5), worker_id="w1",
        cpu_usage=12.5, memory_usage=40.0, gpu_usage=80.0, interval_seconds=5,
        running_tasks=[RunningTask(task_id="t-1", name="train", started_at=started,
                                   progress_percent=30)])
    state, _ = apply_heartbeats(None, [heartbeat], at(2), THRESHOLD) or ({}, [])
    assert state["source"] == "gpu-box"
    assert telemetry(state) == {
        "worker_id": "w1", "cpu_usage": 12.5, "memory_usage": 40.0, "gpu_usage": 80.0,
        "running_tasks": [{"task_id": "t-1", "name": "train", "task_type": None,
                           "started_at": "2025-10-10T13:55:00Z", "progress_percent": 30.0}],
        "last_update": int(T0.timestamp()) + 1,  # whole unix seconds, as the seed had it
        "last_update_at": "2025-10-10T14:00:01.500000Z",
        "is_active": True, "inactive_since": None, "interval_seconds": 5,
    }
    inactive, _ = sweep(state, at(100), THRESHOLD) or ({}, None)
    assert telemetry(inactive)["inactive_since"] == "2025-10-10T14:00:31.500000Z"
    assert telemetry(inactive)["is_active"] is False


def test_alerts_say_when_and_why() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    inactive, raised = sweep(state, at(45), THRESHOLD) or ({}, None)
    assert raised is not None
    assert raised.detail == {"last_heartbeat_at": T0, "inactive_after_seconds": THRESHOLD}
    _, cleared = apply_heartbeats(inactive, [beat(50)], at(51), THRESHOLD) or ({}, [])
    assert [a.detail for a in cleared] == [{"inactive_since": T0 + timedelta(seconds=30)}]


def test_duplicates_in_one_batch_and_a_redelivered_latest_beat_change_nothing() -> None:
    latest = beat(10)
    once = apply_heartbeats(None, [latest], at(11), THRESHOLD)
    twice = apply_heartbeats(None, [latest, beat(5), latest], at(11), THRESHOLD)
    assert once is not None and twice is not None
    assert twice[0] == once[0]
    assert apply_heartbeats(once[0], [latest], at(12), THRESHOLD) is None, "nothing newer"


def test_an_old_beat_for_an_inactive_worker_keeps_when_it_went_inactive() -> None:
    state, _ = apply_heartbeats(None, [beat(0)], at(1), THRESHOLD) or ({}, [])
    inactive, _ = sweep(state, at(45), THRESHOLD) or ({}, None)
    later = apply_heartbeats(inactive, [beat(5)], at(100), THRESHOLD)
    assert later is not None
    assert later[0]["inactive_since_us"] == at(30)
    assert telemetry(later[0])["inactive_since"] == "2025-10-10T14:00:30Z"


def test_two_different_heartbeats_claiming_one_event_id_and_time_do_not_crash_the_fold() -> None:
    """Hostile or buggy producers: the order key is (time, event_id), never the payload."""
    first = beat(10, cpu=10.0)
    forged = first.model_copy(update={"cpu_usage": 99.0})
    result = apply_heartbeats(None, [first, forged], at(11), THRESHOLD)
    assert result is not None and result[0]["cpu_usage"] in (10.0, 99.0)
