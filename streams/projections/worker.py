"""Compute-worker projections: seed 004's `workers` row and one `worker` point per heartbeat.

Why it exists: a worker's current state becomes its row, guarded by `last_update` (a slower or
replaying writer never moves it backwards), and each heartbeat a point at its event time.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.codec import dumps
from schemas.worker import WorkerForget, WorkerHeartbeat
from streams.domain.worker import State, from_micros
from streams.projections.points import point_message
from streams.projections.rows import Row, update_from, upsert
from streams.sinks.line_protocol import line
from streams.sinks.message import Message

WORKERS = upsert("workers", (
    ("worker_id", "text"), ("cpu_usage", "float8"), ("memory_usage", "float8"),
    ("gpu_usage", "float8"), ("running_tasks", "jsonb"), ("last_update", "timestamptz"),
    ("is_active", "bool"),
), key=("worker_id",), guard="workers.last_update <= EXCLUDED.last_update", order=1)

FORGOTTEN = update_from(
    "forget:workers",
    "DELETE FROM workers USING {unnest} "
    "WHERE workers.worker_id = u.worker_id AND workers.last_update <= u.at",
    (("worker_id", "text"), ("at", "timestamptz")))


def row(state: State) -> Row:
    return Row(WORKERS, (
        state["worker_id"], state["cpu_usage"], state["memory_usage"], state["gpu_usage"],
        dumps(state["running_tasks"]).decode(), from_micros(state["last_update_us"]),
        state["is_active"]))


def forgotten(forget: WorkerForget) -> Row:
    """Deletes the worker's row unless a heartbeat newer than the request wrote it."""
    return Row(FORGOTTEN, (forget.worker_id, forget.ts))


def points(worker_id: str, heartbeats: Sequence[WorkerHeartbeat]) -> Message | None:
    return point_message(worker_id, [
        line("worker", {"worker_id": heartbeat.worker_id},
             {"cpu_usage": heartbeat.cpu_usage, "memory_usage": heartbeat.memory_usage,
              "gpu_usage": heartbeat.gpu_usage, "running_tasks": len(heartbeat.running_tasks),
              "interval_seconds": heartbeat.interval_seconds}, heartbeat.ts)
        for heartbeat in heartbeats])
