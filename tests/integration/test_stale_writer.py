"""The rows' monotonic guards: a writer with older state never moves a row back.

A second worker (its own topics and app id, the same database) stands for a slow or replaying
writer during a rebalance: it folds only older reports and heartbeats and writes them. The
`last_seq` (backup jobs and disks) and `last_update` (workers) guards must keep the newer rows.
A marker keyed like the guarded key, produced after the older records into the same partition,
shows when the stale writer has written them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from producers.backup import progress_event
from schemas.backup import JobStatus
from schemas.worker import WorkerHeartbeat
from tests.integration.backup.support import job
from tests.integration.helpers import AppEnv, unique, wait_for

BASE_SEQ = 1_760_000_000_000_000
T0 = datetime(2025, 10, 10, 12, 0, tzinfo=UTC)


def report(job_id: str, step: int, phase: str, status: JobStatus = "running") -> bytes:
    return progress_event(job_id=job_id, job_type="backup", status=status, phase=phase,
                          seq=BASE_SEQ + step * 1_000_000, total_bytes=1000,
                          disks={0: (step * 100, 1000)}, source="test").encode()


def beat(worker_id: str, second: int, cpu: float) -> bytes:
    return WorkerHeartbeat(event_id=uuid.uuid4(), source="test",
                           ts=T0 + timedelta(seconds=second), worker_id=worker_id,
                           cpu_usage=cpu, memory_usage=10.0).encode()


async def test_older_states_written_later_never_move_rows_back(app_env: AppEnv) -> None:
    job_id, worker_id = unique("guard-job-"), unique("guard-gpu-")
    key, wkey = job_id.encode(), worker_id.encode()
    newer = await app_env.start_worker()
    await app_env.produce(app_env.topic("backup"),
                          [(key, report(job_id, step, "verifying")) for step in range(1, 6)])
    await app_env.produce(app_env.topic("heartbeat"), [(wkey, beat(worker_id, 100, 90.0))])

    async def newer_rows() -> bool:
        row = await job(app_env, job_id)
        beats = await app_env.rows("SELECT cpu_usage FROM workers WHERE worker_id = $1",
                                   worker_id)
        return row is not None and row["last_seq"] == BASE_SEQ + 5_000_000 and bool(beats)

    await wait_for(newer_rows, 30, what="the newer rows")
    newer.stop()

    run = uuid.uuid4().hex[:10]
    stale_prefix = f"stale{run}."
    await app_env.start_worker(FLEETSTREAM_TOPIC_PREFIX=stale_prefix,
                               FLEETSTREAM_APP_ID=f"fs-stale-{run}")
    marker_job, marker_worker = unique("marker-job-"), unique("marker-gpu-")
    await app_env.produce(f"{stale_prefix}backup", [
        *[(key, report(job_id, step, "transferring")) for step in range(1, 4)],
        (key, report(marker_job, 1, "transferring"))])
    await app_env.produce(f"{stale_prefix}heartbeat", [
        (wkey, beat(worker_id, 50, 5.0)), (wkey, beat(marker_worker, 50, 1.0))])

    async def markers_written() -> bool:
        marker = await job(app_env, marker_job)
        beats = await app_env.rows("SELECT 1 FROM workers WHERE worker_id = $1", marker_worker)
        return marker is not None and bool(beats)

    await wait_for(markers_written, 60, what="the stale writer's rows after the older ones")
    row = await job(app_env, job_id)
    assert row is not None
    assert (row["last_seq"], row["current_phase"], row["bytes_transferred"]) == (
        BASE_SEQ + 5_000_000, "verifying", 500)
    disks = await app_env.rows(
        "SELECT bytes_transferred, last_seq FROM backup_disks WHERE job_id = $1", job_id)
    assert [(d["bytes_transferred"], d["last_seq"]) for d in disks] == [
        (500, BASE_SEQ + 5_000_000)]
    workers = await app_env.rows(
        "SELECT cpu_usage, last_update FROM workers WHERE worker_id = $1", worker_id)
    assert [(w["cpu_usage"], w["last_update"]) for w in workers] == [
        (90.0, T0 + timedelta(seconds=100))]
