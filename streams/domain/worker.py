"""Worker state from heartbeats: latest stats, active/inactive, and the alerts of each transition.

Why it exists: this is seed 004's TelemetryManager logic, kept pure (no I/O, no clock, no Faust)
so it is tested on its own with property-based tests; `streams.agents.worker` is glue around it.

A worker's state is a JSON-compatible dict (it lives in a changelog-backed table):
- the stats and running tasks are those of the heartbeat with the latest event time (ties broken
  by event_id, so the state is a function of the set of heartbeats, not of their order);
  duplicates and out-of-order heartbeats change nothing;
- a worker is inactive once `now >= last heartbeat + threshold` (event time of the heartbeat,
  wall clock of the stream worker: emitter clocks are assumed to be synchronised, e.g. by NTP).

Transitions, each with exactly one alert of kind `worker.inactive`:
- active -> inactive (found by `sweep`): `raised`, at the deterministic `last heartbeat +
  threshold`, so a stream worker re-raising it after a crash or rebalance yields the same id;
- inactive -> active (a fresh heartbeat): `cleared`, at the event time of the first fresh
  heartbeat newer than the last one.
A worker first seen through a heartbeat that is already too old (e.g. a replay of old topics)
starts inactive without an alert: it was never seen active.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alert import Alert, alert_id
from schemas.event import epoch_micros
from schemas.worker import WorkerHeartbeat

State = dict[str, Any]

ALERT_KIND = "worker.inactive"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def inactive_at(last_update_us: int, inactive_after_s: float) -> int:
    """When a worker whose last heartbeat was at `last_update_us` becomes inactive."""
    return last_update_us + round(inactive_after_s * 1_000_000)


def _fresh(ts_us: int, now_us: int, inactive_after_s: float) -> bool:
    return now_us < inactive_at(ts_us, inactive_after_s)


def _stats(heartbeat: WorkerHeartbeat, ts_us: int) -> State:
    return {
        "worker_id": heartbeat.worker_id,
        "cpu_usage": heartbeat.cpu_usage,
        "memory_usage": heartbeat.memory_usage,
        "gpu_usage": heartbeat.gpu_usage,
        "running_tasks": [task.model_dump(mode="json") for task in heartbeat.running_tasks],
        "interval_seconds": heartbeat.interval_seconds,
        "source": heartbeat.source,
        "event_id": str(heartbeat.event_id),
        "last_update_us": ts_us,
    }


def _order(heartbeat: WorkerHeartbeat) -> tuple[int, str]:
    return epoch_micros(heartbeat.ts), str(heartbeat.event_id)


def apply_heartbeats(
    state: State | None,
    heartbeats: Iterable[WorkerHeartbeat],
    now_us: int,
    inactive_after_s: float,
) -> tuple[State, list[Alert]] | None:
    """The worker's state after `heartbeats` and the alerts to send; None when nothing changed."""
    last = (state["last_update_us"], state["event_id"]) if state is not None else None
    newer = sorted(((_order(h), h) for h in heartbeats if last is None or _order(h) > last),
                   key=lambda pair: pair[0])
    if not newer:
        return None
    first_fresh = next((ts for (ts, _), _ in newer if _fresh(ts, now_us, inactive_after_s)),
                       None)
    (newest_us, _), newest = newer[-1]
    after = _stats(newest, newest_us)
    alerts: list[Alert] = []
    if state is None:
        after.update(is_active=first_fresh is not None, inactive_since_us=None)
        if first_fresh is None:
            after["inactive_since_us"] = inactive_at(newest_us, inactive_after_s)
        return after, alerts
    if state["is_active"] or first_fresh is None:
        # Still active (a late backlog of old beats is left to the sweep), or still inactive.
        after.update(is_active=state["is_active"], inactive_since_us=state["inactive_since_us"])
        return after, alerts
    after.update(is_active=True, inactive_since_us=None)
    inactive_since = from_micros(state["inactive_since_us"])
    alerts.append(Alert.transition(
        ALERT_KIND, after["worker_id"], "cleared", from_micros(first_fresh),
        clears=alert_id(ALERT_KIND, after["worker_id"], "raised", inactive_since),
        inactive_since=inactive_since))
    return after, alerts


def sweep(state: State, now_us: int, inactive_after_s: float) -> tuple[State, Alert] | None:
    """The worker turned inactive and its alert, or None when it is not (newly) inactive."""
    if not state["is_active"] or _fresh(state["last_update_us"], now_us, inactive_after_s):
        return None
    since = inactive_at(state["last_update_us"], inactive_after_s)
    alert = Alert.transition(ALERT_KIND, state["worker_id"], "raised", from_micros(since),
                             last_heartbeat_at=from_micros(state["last_update_us"]),
                             inactive_after_seconds=inactive_after_s)
    return {**state, "is_active": False, "inactive_since_us": since}, alert


def _iso(us: int | None) -> str | None:
    return None if us is None else from_micros(us).isoformat().replace("+00:00", "Z")


def telemetry(state: State) -> dict[str, Any]:
    """Seed 004's WorkerTelemetryData as JSON: `last_update` in unix seconds, as the seed had it,
    plus RFC 3339 times."""
    return {
        "worker_id": state["worker_id"],
        "cpu_usage": state["cpu_usage"],
        "memory_usage": state["memory_usage"],
        "gpu_usage": state["gpu_usage"],
        "running_tasks": state["running_tasks"],
        "last_update": state["last_update_us"] // 1_000_000,
        "last_update_at": _iso(state["last_update_us"]),
        "is_active": state["is_active"],
        "inactive_since": _iso(state["inactive_since_us"]),
        "interval_seconds": state["interval_seconds"],
    }


def basic(state: State) -> dict[str, Any]:
    """The worker list's basic stats: usage, how many tasks, when it was last heard of."""
    full = telemetry(state)
    del full["running_tasks"]
    full["running_task_count"] = len(state["running_tasks"])
    return full
