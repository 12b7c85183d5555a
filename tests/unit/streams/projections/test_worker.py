"""Seed 004's `workers` row, the forget that deletes it, and the `worker` point per heartbeat."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.worker import RunningTask, WorkerForget, WorkerHeartbeat
from streams.projections.rows import Row
from streams.projections.worker import FORGOTTEN, WORKERS, forgotten, points, row
from streams.sinks.message import Message

AT = datetime(2025, 10, 10, 14, 35, 42, 123456, tzinfo=UTC)
AT_US = 1_760_106_942_123_456  # worked out by hand: 20371 days * 86400 s + 52542 s, in us


def test_the_row_holds_the_state_with_tasks_as_json_and_last_update_as_a_time() -> None:
    state = {"worker_id": "w-1", "cpu_usage": 12.5, "memory_usage": 40.0, "gpu_usage": None,
             "running_tasks": [{"task_id": "t1"}], "last_update_us": AT_US, "is_active": True}
    assert row(state) == Row(WORKERS, ("w-1", 12.5, 40.0, None, '[{"task_id":"t1"}]', AT, True))


def test_the_workers_upsert_never_moves_last_update_backwards() -> None:
    assert WORKERS.sql == (
        "INSERT INTO workers (worker_id, cpu_usage, memory_usage, gpu_usage, running_tasks, "
        "last_update, is_active) SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], "
        "$4::float8[], $5::jsonb[], $6::timestamptz[], $7::bool[]) ON CONFLICT (worker_id) "
        "DO UPDATE SET cpu_usage = EXCLUDED.cpu_usage, memory_usage = EXCLUDED.memory_usage, "
        "gpu_usage = EXCLUDED.gpu_usage, running_tasks = EXCLUDED.running_tasks, "
        "last_update = EXCLUDED.last_update, is_active = EXCLUDED.is_active "
        "WHERE workers.last_update <= EXCLUDED.last_update")
    assert WORKERS.order == 1


def test_a_forget_deletes_the_row_unless_a_newer_heartbeat_wrote_it() -> None:
    forget = WorkerForget(event_id=uuid.uuid4(), source="cli", ts=AT, worker_id="w-1")
    assert forgotten(forget) == Row(FORGOTTEN, ("w-1", AT))
    assert FORGOTTEN.sql == (
        "DELETE FROM workers USING unnest($1::text[], $2::timestamptz[]) AS u(worker_id, at) "
        "WHERE workers.worker_id = u.worker_id AND workers.last_update <= u.at")
    assert (FORGOTTEN.name, FORGOTTEN.order) == ("forget:workers", 0)


def _heartbeat(ts: datetime, gpu: float | None, tasks: int) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        event_id=uuid.uuid4(), source="w", ts=ts, worker_id="w 1", cpu_usage=12.5,
        memory_usage=40.0, gpu_usage=gpu, interval_seconds=5.0,
        running_tasks=[RunningTask(task_id=f"t{n}") for n in range(tasks)])


def test_one_point_per_heartbeat_with_the_task_count() -> None:
    later = datetime(2025, 10, 10, 14, 35, 47, 123456, tzinfo=UTC)
    message = points("w 1", [_heartbeat(AT, None, 2), _heartbeat(later, 99.5, 0)])
    # Line protocol by hand: the space in the tag value escaped, fields sorted, ints with `i`.
    assert message == Message(b"w 1", (
        b"worker,worker_id=w\\ 1 cpu_usage=12.5,interval_seconds=5.0,memory_usage=40.0,"
        b"running_tasks=2i 1760106942123456000\n"
        b"worker,worker_id=w\\ 1 cpu_usage=12.5,gpu_usage=99.5,interval_seconds=5.0,"
        b"memory_usage=40.0,running_tasks=0i 1760106947123456000"))
    assert points("w 1", []) is None
