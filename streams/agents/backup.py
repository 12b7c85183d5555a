"""Backup-job progress: `telemetry.backup` -> job state table -> PostgreSQL, InfluxDB and alerts.

Why it exists: this is the glue around `streams.domain.backup` (where all the math lives). Per
batch (`BATCH_MAX_LINES` / `BATCH_MAX_SEC`) it folds each job's reports into its state once,
stores the state once per job (`KeyedState.put`), and writes one row per job and per disk with
batched UNNEST upserts, before Faust acknowledges the batch's offsets (write, then commit).

A timer sweeps the jobs this worker owns for staleness and raises `backup.stale` /
`backup.stalled` alerts; fresh telemetry clears them (see the domain module for the rules).

Ordering, so that no alert is lost or duplicated across crashes and rebalances:
- state changes (agent and sweep) go through `streams.alerting.AlertingState`: one lock, and
  their alerts are sent BEFORE the state is stored;
- projection rows are built from the table's current state under its write lock (`project`), so
  whichever of the agent and the sweep writes last writes the newest state; the rows' `last_seq`
  guard keeps a slower worker (during a rebalance) from moving a row backwards.
What it must not do: compute anything itself, or write a row from an older state than the table's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from schemas.backup import BackupProgress
from schemas.event import epoch_micros, now_utc
from streams import topics
from streams.alerting import AlertingState, Outcome
from streams.app import app, settings
from streams.batches import Decoded, decode_batch
from streams.domain.backup import (
    State,
    apply_events,
    from_micros,
    is_catching_up,
    resume_alerts,
    sweep,
)
from streams.sinks import database, influx
from streams.sinks.influx import line
from streams.state import KeyedState

state = KeyedState("backup_jobs", topics.backup,
                   help="Backup job state by job_id: disks, totals, speed, staleness.")
_alerting = AlertingState(state)

# partition -> (offset of the last record processed, newest event time processed, µs).
_processed: dict[int, tuple[int, int]] = {}

_JOB_COLUMNS = (
    ("job_id", "text"), ("job_type", "text"), ("status", "text"), ("current_phase", "text"),
    ("bytes_transferred", "int8"), ("total_bytes", "int8"), ("transfer_speed_bps", "float8"),
    ("eta_seconds", "int8"), ("progress_percent", "float8"), ("started_at", "timestamptz"),
    ("last_telemetry_at", "timestamptz"), ("completed_at", "timestamptz"),
    ("stale_since", "timestamptz"), ("error", "text"), ("last_seq", "int8"),
    ("updated_at", "timestamptz"),
)
_DISK_COLUMNS = (
    ("job_id", "text"), ("disk_index", "int4"), ("bytes_transferred", "int8"),
    ("total_bytes", "int8"), ("progress_percent", "float8"), ("status", "text"),
    ("last_seq", "int8"), ("updated_at", "timestamptz"),
)


def _upsert(table: str, columns: Sequence[tuple[str, str]], key: Sequence[str]) -> str:
    """One statement for a whole batch: columns arrive as arrays (UNNEST), guarded by last_seq."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, 1))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in columns if name not in key)
    return (f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} "
            f"WHERE {table}.last_seq <= EXCLUDED.last_seq")


JOB_UPSERT = _upsert("backup_jobs", _JOB_COLUMNS, ["job_id"])
DISK_UPSERT = _upsert("backup_disks", _DISK_COLUMNS, ["job_id", "disk_index"])


def _columns(rows: list[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """Rows turned into one array per column, the shape UNNEST takes."""
    return tuple(list(column) for column in zip(*rows, strict=True))


def projection_rows(jobs: Iterable[State]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(job rows, disk rows) in `_JOB_COLUMNS` / `_DISK_COLUMNS` order."""
    job_rows: list[tuple[Any, ...]] = []
    disk_rows: list[tuple[Any, ...]] = []
    for job in jobs:
        # Event times only, so a replay writes identical rows.
        updated_us = max(job["last_telemetry_us"], job["stale_since_us"] or 0)
        updated = from_micros(updated_us)
        job_rows.append((
            job["job_id"], job["job_type"], job["status"], job["current_phase"],
            job["bytes_transferred"], job["total_bytes"], job["transfer_speed_bps"],
            job["eta_seconds"], job["progress_percent"], from_micros(job["started_us"]),
            from_micros(job["last_telemetry_us"]), from_micros(job["completed_us"]),
            from_micros(job["stale_since_us"]), job["error"], job["version"], updated))
        for index, disk in job["disks"].items():
            disk_rows.append((
                job["job_id"], int(index), disk["bytes_transferred"], disk["total_bytes"],
                disk["progress_percent"], disk["status"], job["version"], updated))
    return job_rows, disk_rows


def influx_lines(jobs: Iterable[State]) -> list[str]:
    lines = []
    for job in jobs:
        at = from_micros(job["last_telemetry_us"])
        assert at is not None
        point = line("backup_job",
                     {"job_id": job["job_id"], "job_type": job["job_type"],
                      "status": job["status"]},
                     {"bytes": job["bytes_transferred"], "speed": job["transfer_speed_bps"],
                      "eta": job["eta_seconds"], "percent": job["progress_percent"]}, at)
        if point is not None:
            lines.append(point)
    return lines


async def _write_rows(jobs: list[State]) -> None:
    job_rows, disk_rows = projection_rows(jobs)
    statements = [(JOB_UPSERT, [_columns(job_rows)])]
    if disk_rows:
        statements.append((DISK_UPSERT, [_columns(disk_rows)]))
    await database().write(statements, what="backup_jobs")


async def _write_projections(job_ids: Iterable[str], *, series: bool) -> None:
    jobs = await _alerting.project(job_ids, _write_rows)
    if series and jobs:
        await influx().write(influx_lines(jobs), what="backup_job")


def _fold(before: State | None, events: list[BackupProgress]) -> Outcome:
    after = apply_events(before, events)
    assert after is not None
    return after, resume_alerts(before, after)


async def handle(decoded: Sequence[Decoded[BackupProgress]]) -> None:
    """Fold one batch into the job states, then project every job the batch touched."""
    changes = await _alerting.apply(decoded, lambda event: event.job_id, _fold)
    await _write_projections([change.key for change in changes], series=True)


@app.agent(topics.backup)
async def process(stream: Any) -> None:
    async for records in stream.take_events(settings.batch_max_lines,
                                            within=settings.batch_max_sec):
        decoded = await decode_batch(records, BackupProgress)
        # Before handling: the sweep may run while this batch awaits its sinks.
        note_processed(records, decoded)
        if decoded:
            await handle(decoded)


def note_processed(records: Sequence[Any], decoded: Sequence[Decoded[BackupProgress]]) -> None:
    """Remember, per partition, the last offset processed and the newest event time on it."""
    for record in records:
        message = record.message
        offset, newest = _processed.get(message.partition, (-1, 0))
        _processed[message.partition] = (max(offset, message.offset), newest)
    for item in decoded:
        offset, newest = _processed[item.partition]
        _processed[item.partition] = (offset, max(newest, epoch_micros(item.event.ts)))


def catching_up(now_us: int) -> set[int]:
    """Owned partitions whose backlog holds telemetry this worker has not processed yet.

    Forgets partitions no longer owned, so a partition assigned again starts afresh.
    """
    owned = state.owned_partitions()
    for partition in set(_processed) - {tp.partition for tp in owned}:
        del _processed[partition]
    behind = set()
    for tp in owned:
        done = _processed.get(tp.partition)
        end = app.consumer.highwater(tp)
        if done is not None and end is not None and is_catching_up(
                end, done[0], done[1], now_us, settings.stale_after_seconds):
            behind.add(tp.partition)
    return behind


async def sweep_owned(now_us: int) -> list[str]:
    """Raise staleness alerts for the running jobs this worker owns; returns the jobs changed."""
    changes = await _alerting.sweep(
        lambda job: sweep(job, now_us, settings.stale_after_seconds,
                          settings.stalled_after_seconds),
        skip_partitions=lambda: catching_up(now_us))
    job_ids = [change.key for change in changes]
    await _write_projections(job_ids, series=False)
    return job_ids


@app.timer(settings.sweep_interval_seconds)
async def sweep_stale_jobs() -> None:
    await sweep_owned(epoch_micros(now_utc()))
