"""Seed 003's `backup_jobs` / `backup_disks` rows and the `backup_job` point of a job state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.projections.backup import DISKS, JOBS, point, rows
from streams.projections.rows import Row
from streams.sinks.message import Message

T0 = datetime(2025, 10, 10, 14, 0, tzinfo=UTC)
T0_US = 1_760_104_800_000_000  # worked out by hand: 20371 days * 86400 s + 14 h, in us
SECOND = 1_000_000


def job(**changes: Any) -> dict[str, Any]:
    state = {
        "job_id": "job-1", "job_type": "backup", "status": "running",
        "current_phase": "transferring", "bytes_transferred": 30, "total_bytes": 100,
        "transfer_speed_bps": 1000, "eta_seconds": 12, "progress_percent": 30,
        "started_us": T0_US, "last_telemetry_us": T0_US + 60 * SECOND, "completed_us": None,
        "stale_since_us": None, "stale_level": 0, "error": None, "version": 7,
        "disks": {"1": {"bytes_transferred": 30, "total_bytes": 60, "progress_percent": 50,
                        "status": "transferring"}},
    }
    return state | changes


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_job_row_then_one_row_per_disk_with_floats_as_floats() -> None:
    job_row, disk_row = rows(job())
    assert job_row == Row(JOBS, (
        "job-1", "backup", "running", "transferring", 30, 100, 1000.0, 12, 30.0, T0,
        at(60), None, None, "fresh", None, 7, at(60)))
    assert disk_row == Row(DISKS, ("job-1", 1, 30, 60, 50.0, "transferring", 7, at(60)))
    # float8 columns get floats, int columns ints (the disk index came as a JSON key).
    assert [type(v) for v in job_row.values[6:9]] == [float, int, float]
    assert type(disk_row.values[1]) is int and type(disk_row.values[4]) is float


def test_a_stale_job_is_updated_at_its_stale_time_when_that_is_later() -> None:
    stale = job(stale_since_us=T0_US + 90 * SECOND, stale_level=2, completed_us=None,
                transfer_speed_bps=None, progress_percent=None, disks={})
    [job_row] = rows(stale)
    assert job_row.values[6] is None and job_row.values[8] is None
    assert job_row.values[12:] == (at(90), "stalled", None, 7, at(90))
    done = job(completed_us=T0_US + 30 * SECOND, stale_since_us=T0_US + 10 * SECOND,
               stale_level=1, status="failed", error="disk full", disks={})
    assert rows(done)[0].values[11:] == (at(30), at(10), "stale", "disk full", 7, at(60))


def test_the_statements_are_guarded_by_last_seq_and_the_disks_come_after_the_job() -> None:
    assert [name for name, _ in JOBS.columns] == [
        "job_id", "job_type", "status", "current_phase", "bytes_transferred", "total_bytes",
        "transfer_speed_bps", "eta_seconds", "progress_percent", "started_at",
        "last_telemetry_at", "completed_at", "stale_since", "staleness", "error", "last_seq",
        "updated_at"]
    assert [kind for _, kind in JOBS.columns] == [
        "text", "text", "text", "text", "int8", "int8", "float8", "int8", "float8",
        "timestamptz", "timestamptz", "timestamptz", "timestamptz", "text", "text", "int8",
        "timestamptz"]
    assert JOBS.sql.startswith("INSERT INTO backup_jobs (job_id, job_type, ")
    assert JOBS.sql.endswith(
        " ON CONFLICT (job_id) DO UPDATE SET job_type = EXCLUDED.job_type, status = "
        "EXCLUDED.status, current_phase = EXCLUDED.current_phase, bytes_transferred = "
        "EXCLUDED.bytes_transferred, total_bytes = EXCLUDED.total_bytes, transfer_speed_bps = "
        "EXCLUDED.transfer_speed_bps, eta_seconds = EXCLUDED.eta_seconds, progress_percent = "
        "EXCLUDED.progress_percent, started_at = EXCLUDED.started_at, last_telemetry_at = "
        "EXCLUDED.last_telemetry_at, completed_at = EXCLUDED.completed_at, stale_since = "
        "EXCLUDED.stale_since, staleness = EXCLUDED.staleness, error = EXCLUDED.error, "
        "last_seq = EXCLUDED.last_seq, updated_at = EXCLUDED.updated_at "
        "WHERE backup_jobs.last_seq <= EXCLUDED.last_seq")
    assert DISKS.sql == (
        "INSERT INTO backup_disks (job_id, disk_index, bytes_transferred, total_bytes, "
        "progress_percent, status, last_seq, updated_at) SELECT * FROM unnest($1::text[], "
        "$2::int4[], $3::int8[], $4::int8[], $5::float8[], $6::text[], $7::int8[], "
        "$8::timestamptz[]) ON CONFLICT (job_id, disk_index) DO UPDATE SET bytes_transferred = "
        "EXCLUDED.bytes_transferred, total_bytes = EXCLUDED.total_bytes, progress_percent = "
        "EXCLUDED.progress_percent, status = EXCLUDED.status, last_seq = EXCLUDED.last_seq, "
        "updated_at = EXCLUDED.updated_at WHERE backup_disks.last_seq <= EXCLUDED.last_seq")
    assert (JOBS.order, DISKS.order) == (0, 1)


def test_the_point_is_at_the_latest_event_time_with_typed_fields() -> None:
    # Line protocol by hand: tags sorted, ints with `i`, the int speed and percent as floats.
    assert point(job()) == Message(b"job-1", (
        b"backup_job,job_id=job-1,job_type=backup,status=running "
        b"bytes=30i,eta=12i,percent=30.0,speed=1000.0 1760104860000000000"))
    unknown = job(transfer_speed_bps=None, eta_seconds=None, progress_percent=None)
    assert point(unknown) == Message(
        b"job-1", b"backup_job,job_id=job-1,job_type=backup,status=running bytes=30i "
                  b"1760104860000000000")


def test_a_job_last_heard_of_at_the_epoch_itself_is_updated_then() -> None:
    # The epoch is a valid event time (schemas.event.EARLIEST): no later placeholder may win.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    [job_row] = rows(job(started_us=0, last_telemetry_us=0, disks={}))
    assert job_row.values[-1] == epoch
