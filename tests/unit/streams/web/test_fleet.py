"""The fleet stream's pure parts: per-job throttling and the messages the dashboard reads."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from schemas.alert import Alert
from schemas.event import epoch_micros
from schemas.worker import RunningTask, WorkerHeartbeat
from streams.web.fleet import Throttle, alert_message, heartbeat_message, job_message

INTERVAL = 0.5
AT = datetime(2025, 12, 17, 10, 0, 0, tzinfo=UTC)

# Gaps in eighths of a second: exact in binary, so the interval arithmetic has no rounding.
offers = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                            st.integers(min_value=0, max_value=5).map(lambda n: n / 8)),
                  max_size=60)


class Run:
    """Keys offered at increasing times with `due` polled in between, as the worker does."""

    def __init__(self, steps: list[tuple[str, float]]) -> None:
        self.throttle, self.now = Throttle(INTERVAL), 0.0
        self.sent: list[tuple[float, str]] = []
        self.offered: dict[str, float] = {}   # key -> when it was last offered
        for key, gap in steps:
            self.now += gap
            self.poll(self.now)
            self.offered[key] = self.now
            if self.throttle.offer(key, self.now):
                self.sent.append((self.now, key))

    def poll(self, at: float) -> None:
        self.sent += [(at, key) for key in self.throttle.due(at)]


@given(offers)
def test_at_most_one_notification_per_job_per_interval(steps: list[tuple[str, float]]) -> None:
    run = Run(steps)
    for key in "abc":
        times = [at for at, k in run.sent if k == key]
        assert all(b - a >= INTERVAL for a, b in itertools.pairwise(times))


@given(offers)
def test_the_last_change_of_every_job_is_notified_after_it(steps: list[tuple[str, float]]) -> None:
    run = Run(steps)
    run.poll(run.now + INTERVAL)
    for key, offered_at in run.offered.items():
        assert any(at >= offered_at for at, k in run.sent if k == key)
    assert not run.throttle.pending


def test_a_burst_of_progress_gives_one_notification_now_and_one_trailing() -> None:
    throttle = Throttle(INTERVAL)
    assert [throttle.offer("job", t) for t in (0.0, 0.1, 0.2, 0.3)] == [True, False, False, False]
    assert throttle.due(0.4) == []
    assert throttle.due(0.5) == ["job"]
    assert throttle.due(2.0) == []
    assert throttle.last == {}   # a quiet job is forgotten


def beat(ts: datetime) -> WorkerHeartbeat:
    return WorkerHeartbeat(event_id=uuid.uuid4(), source="test", ts=ts, worker_id="gpu-1",
                           cpu_usage=63.0, memory_usage=40.5, gpu_usage=None,
                           running_tasks=[RunningTask(task_id="t1"), RunningTask(task_id="t2")])


def test_heartbeat_message_carries_the_stats_and_whether_it_makes_the_worker_active() -> None:
    now_us = epoch_micros(AT) + 10_000_000
    message = heartbeat_message(beat(AT), now_us, inactive_after_s=30)
    assert message == {"type": "heartbeat", "worker_id": "gpu-1", "cpu_usage": 63.0,
                       "memory_usage": 40.5, "gpu_usage": None, "running_task_count": 2,
                       "ts": "2025-12-17T10:00:00Z", "fresh": True}
    assert heartbeat_message(beat(AT), now_us, inactive_after_s=5)["fresh"] is False


def test_job_and_alert_messages() -> None:
    assert job_message("nightly") == {"type": "job", "job_id": "nightly"}
    alert = Alert.transition("backup.stale", "nightly", "raised", AT, silent_seconds=90)
    message = alert_message(alert)
    assert message["type"] == "alert"
    assert (message["kind"], message["subject"], message["state"]) == (
        "backup.stale", "nightly", "raised")
    assert message["alert_id"] == alert.alert_id
    assert message["detail"] == {"silent_seconds": 90}
    assert message["at"].startswith("2025-12-17T10:00:00")
