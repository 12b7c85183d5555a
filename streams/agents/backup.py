"""Backup-job progress: `telemetry.backup` -> job state table -> PostgreSQL, InfluxDB and alerts.

Why it exists: this is the glue around `streams.domain.backup` (where all the math lives). Per
batch (`BATCH_MAX_LINES` / `BATCH_MAX_SEC`) it folds each job's reports into its state once,
stores the state once per job (`KeyedState.put`), and writes one row per job and per disk with
batched UNNEST upserts, before Faust acknowledges the batch's offsets (write, then commit).

A timer sweeps the jobs this worker owns for staleness and raises `backup.stale` /
`backup.stalled` alerts; fresh telemetry clears them (see the domain module for the rules).

Ordering, so that no alert is lost or duplicated across crashes and rebalances:
- state changes (agent and sweep) run under one lock and send their alerts BEFORE storing the
  state: a crash in between re-sends the same alert (same deterministic id), never drops it;
- projection rows are built from the table's current state while holding the write lock, so
  whichever of the agent and the sweep writes last writes the newest state; the rows' `last_seq`
  guard keeps a slower worker (during a rebalance) from moving a row backwards.
What it must not do: compute anything itself, or write a row from an older state than the table's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from schemas.alert import Alert
from schemas.backup import BackupProgress
from schemas.event import epoch_micros, now_utc
from streams import topics
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
from streams.state import PARTITION_FIELD, KeyedState

log = logging.getLogger(__name__)

state = KeyedState("backup_jobs", topics.backup,
                   help="Backup job state by job_id: disks, totals, speed, staleness.")

# The agent and the sweep both read-modify-write job states and await alerts in between.
_state_lock = asyncio.Lock()
# partition -> (offset of the last record processed, newest event time processed, µs).
_processed: dict[int, tuple[int, int]] = {}
# Serialises projection writes, each built from the current state (see the module docstring).
_write_lock = asyncio.Lock()

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


async def _write_projections(job_ids: Iterable[str], *, series: bool) -> None:
    async with _write_lock:
        jobs = [job for job in (state.get(job_id) for job_id in job_ids) if job is not None]
        if not jobs:
            return
        job_rows, disk_rows = projection_rows(jobs)
        statements = [(JOB_UPSERT, [_columns(job_rows)])]
        if disk_rows:
            statements.append((DISK_UPSERT, [_columns(disk_rows)]))
        await database().write(statements, what="backup_jobs")
    if series:
        await influx().write(influx_lines(jobs), what="backup_job")


async def send_alerts(alerts: Sequence[Alert]) -> None:
    """Publish alerts and wait for Kafka's acknowledgement of every one."""
    pending = []
    for alert in alerts:
        log.info("alert kind=%s subject=%s state=%s at=%s", alert.kind, alert.subject,
                 alert.state, alert.at.isoformat())
        pending.append(await topics.alerts.send(key=alert.subject.encode(), value=alert.encode()))
    await asyncio.gather(*pending)


async def handle(decoded: Sequence[Decoded[BackupProgress]]) -> None:
    """Fold one batch into the job states, then project every job the batch touched."""
    by_job: dict[str, list[BackupProgress]] = {}
    partition_of: dict[str, int] = {}
    for item in decoded:
        by_job.setdefault(item.event.job_id, []).append(item.event)
        partition_of[item.event.job_id] = item.partition
    async with _state_lock:
        updated: list[tuple[str, State]] = []
        alerts: list[Alert] = []
        for job_id, events in by_job.items():
            before = state.get(job_id)
            after = apply_events(before, events)
            assert after is not None
            alerts.extend(resume_alerts(before, after))
            updated.append((job_id, after))
        await send_alerts(alerts)
        for job_id, after in updated:
            state.put(job_id, after, partition_of[job_id])
    await _write_projections(by_job, series=True)


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
    topic = topics.backup.get_topic_name()
    owned = {tp for tp in app.assignor.assigned_actives() if tp.topic == topic}
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


async def sweep_owned(now_us: int) -> list[Alert]:
    """Raise staleness alerts for the running jobs this worker owns; returns the alerts sent."""
    async with _state_lock:
        behind = catching_up(now_us)
        changes = []
        for job_id, job in state.owned_items():
            if job[PARTITION_FIELD] in behind:
                continue
            result = sweep(job, now_us, settings.stale_after_seconds,
                           settings.stalled_after_seconds)
            if result is not None:
                changes.append((job_id, job[PARTITION_FIELD], result))
        if not changes:
            return []
        alerts = [alert for _, _, (_, raised) in changes for alert in raised]
        await send_alerts(alerts)
        for job_id, partition, (after, _) in changes:
            state.put(job_id, after, partition)
    await _write_projections([job_id for job_id, _, _ in changes], series=False)
    return alerts


@app.timer(settings.sweep_interval_seconds)
async def sweep_stale_jobs() -> None:
    await sweep_owned(epoch_micros(now_utc()))
