"""Worker heartbeats: `telemetry.heartbeat` -> workers table -> PostgreSQL, InfluxDB and alerts.

Why it exists: this is the glue around `streams.domain.worker` (where the rules live). Per batch
it folds each worker's heartbeats into its state once, stores it (`KeyedState.put`), then writes
the changed workers' rows to PostgreSQL (`workers`, guarded by `last_update`) and one InfluxDB
`worker` point per heartbeat, before Faust acknowledges the batch (write, then commit).

A timer sweeps the workers this worker owns and marks those silent for
FLEETSTREAM_WORKER_INACTIVE_SECONDS inactive, raising one `worker.inactive` alert each; a fresh
heartbeat clears it. As in the backup agent, state changes go through
`streams.alerting.AlertingState`: one lock, and their alerts are sent BEFORE the state is stored,
so a crash in between re-sends the same alert (same deterministic id), never drops it. The
sweep is skipped while tables recover or partitions move, when a half-restored state could look
silent.
What it must not do: decide anything about activity itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from schemas.codec import dumps
from schemas.event import epoch_micros, now_utc
from schemas.worker import WorkerHeartbeat
from streams import topics
from streams.alerting import AlertingState, Outcome
from streams.app import app, settings
from streams.batches import Decoded, decode_batch
from streams.domain.worker import State, apply_heartbeats, from_micros, sweep
from streams.sinks import database, influx
from streams.sinks.influx import line
from streams.state import KeyedState

log = logging.getLogger(__name__)

workers = KeyedState("workers", topics.heartbeat,
                     help="Worker state by worker_id: last heartbeat, stats, tasks, active flag.")
_alerting = AlertingState(workers)

UPSERT_SQL = (
    "INSERT INTO workers (worker_id, cpu_usage, memory_usage, gpu_usage, running_tasks,"
    " last_update, is_active) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) "
    "ON CONFLICT (worker_id) DO UPDATE SET cpu_usage = EXCLUDED.cpu_usage,"
    " memory_usage = EXCLUDED.memory_usage, gpu_usage = EXCLUDED.gpu_usage,"
    " running_tasks = EXCLUDED.running_tasks, last_update = EXCLUDED.last_update,"
    " is_active = EXCLUDED.is_active "
    "WHERE workers.last_update <= EXCLUDED.last_update")


def projection_row(state: State) -> tuple[Any, ...]:
    return (state["worker_id"], state["cpu_usage"], state["memory_usage"], state["gpu_usage"],
            dumps(state["running_tasks"]).decode(), from_micros(state["last_update_us"]),
            state["is_active"])


def influx_line(heartbeat: WorkerHeartbeat) -> str | None:
    return line("worker", {"worker_id": heartbeat.worker_id},
                {"cpu_usage": heartbeat.cpu_usage, "memory_usage": heartbeat.memory_usage,
                 "gpu_usage": heartbeat.gpu_usage,
                 "running_tasks": len(heartbeat.running_tasks),
                 "interval_seconds": heartbeat.interval_seconds}, heartbeat.ts)


async def _write_rows(states: list[State]) -> None:
    await database().write([(UPSERT_SQL, [projection_row(s) for s in states])], what="workers")


async def handle(decoded: Sequence[Decoded[WorkerHeartbeat]], now_us: int) -> None:
    """Fold one batch into the worker states, alert on transitions, project every worker in it.

    Every worker of the batch is projected, changed or not: after a crash between storing the
    states and writing the rows, the redelivered batch changes nothing in the restored table but
    must still write its rows (the `last_update` guard makes rewriting harmless).
    """
    await _alerting.apply(
        decoded, lambda heartbeat: heartbeat.worker_id,
        lambda before, heartbeats: apply_heartbeats(before, heartbeats, now_us,
                                                    settings.worker_inactive_seconds))
    await _alerting.project({item.event.worker_id for item in decoded}, _write_rows)
    lines = [point for point in (influx_line(item.event) for item in decoded) if point]
    await influx().write(lines, what="worker")


@app.agent(topics.heartbeat)
async def process(stream: Any) -> None:
    async for records in stream.take_events(settings.batch_max_lines,
                                            within=settings.batch_max_sec):
        decoded = await decode_batch(records, WorkerHeartbeat)
        if decoded:
            await handle(decoded, epoch_micros(now_utc()))


async def sweep_owned(now_us: int) -> list[str]:
    """Mark the silent workers this worker owns inactive (one alert each); returns their ids."""
    changes = await _alerting.sweep(lambda state: _inactive(state, now_us))
    for change in changes:
        log.info("worker.inactive worker_id=%s last_update=%s", change.key,
                 from_micros(change.state["last_update_us"]).isoformat())
    await _alerting.project((change.key for change in changes), _write_rows)
    return [change.key for change in changes]


def _inactive(state: State, now_us: int) -> Outcome:
    result = sweep(state, now_us, settings.worker_inactive_seconds)
    return None if result is None else (result[0], [result[1]])


@app.timer(settings.sweep_interval_seconds)
async def sweep_inactive_workers() -> None:
    if app.rebalancing or app.in_recovery:
        return
    await sweep_owned(epoch_micros(now_utc()))
