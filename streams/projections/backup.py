"""Backup-job projections: `backup_jobs` / `backup_disks` rows and the `backup_job` point.

Why it exists: the job state (`streams.domain.backup`) becomes seed 003's tables, written as
batched upserts guarded by `last_seq` (a slower or replaying writer never moves a row backwards),
and one TSDB point per job and batch at the job's latest event time. Times are event times only,
so a replay writes identical rows.
"""

from __future__ import annotations

from streams.domain.backup import STALENESS, State, from_micros
from streams.projections.points import point_message
from streams.projections.rows import Row, upsert
from streams.sinks.line_protocol import line
from streams.sinks.message import Message

JOBS = upsert("backup_jobs", (
    ("job_id", "text"), ("job_type", "text"), ("status", "text"), ("current_phase", "text"),
    ("bytes_transferred", "int8"), ("total_bytes", "int8"), ("transfer_speed_bps", "float8"),
    ("eta_seconds", "int8"), ("progress_percent", "float8"), ("started_at", "timestamptz"),
    ("last_telemetry_at", "timestamptz"), ("completed_at", "timestamptz"),
    ("stale_since", "timestamptz"), ("staleness", "text"), ("error", "text"),
    ("last_seq", "int8"), ("updated_at", "timestamptz"),
), key=("job_id",), guard="backup_jobs.last_seq <= EXCLUDED.last_seq")

DISKS = upsert("backup_disks", (
    ("job_id", "text"), ("disk_index", "int4"), ("bytes_transferred", "int8"),
    ("total_bytes", "int8"), ("progress_percent", "float8"), ("status", "text"),
    ("last_seq", "int8"), ("updated_at", "timestamptz"),
), key=("job_id", "disk_index"), guard="backup_disks.last_seq <= EXCLUDED.last_seq", order=1)


def rows(job: State) -> list[Row]:
    """The job's row, then one row per disk (the disks reference the job)."""
    # Event times only, so a replay writes identical rows.
    updated = from_micros(max(job["last_telemetry_us"], job["stale_since_us"] or 0))
    result = [Row(JOBS, (
        job["job_id"], job["job_type"], job["status"], job["current_phase"],
        job["bytes_transferred"], job["total_bytes"], _float(job["transfer_speed_bps"]),
        job["eta_seconds"], _float(job["progress_percent"]), from_micros(job["started_us"]),
        from_micros(job["last_telemetry_us"]), from_micros(job["completed_us"]),
        from_micros(job["stale_since_us"]), STALENESS[job["stale_level"]], job["error"],
        job["version"], updated))]
    for index, disk in job["disks"].items():
        result.append(Row(DISKS, (
            job["job_id"], int(index), disk["bytes_transferred"], disk["total_bytes"],
            _float(disk["progress_percent"]), disk["status"], job["version"], updated)))
    return result


def point(job: State) -> Message | None:
    """The `backup_job` point at the job's latest event time (fields typed fixed: floats stay
    floats, counters stay integers)."""
    at = from_micros(job["last_telemetry_us"])
    assert at is not None
    text = line("backup_job",
                {"job_id": job["job_id"], "job_type": job["job_type"], "status": job["status"]},
                {"bytes": job["bytes_transferred"], "speed": _float(job["transfer_speed_bps"]),
                 "eta": job["eta_seconds"], "percent": _float(job["progress_percent"])}, at)
    return point_message(job["job_id"], [text])


def _float(value: float | int | None) -> float | None:
    return None if value is None else float(value)
