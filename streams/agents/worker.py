"""Worker heartbeats: `telemetry.heartbeat` -> workers table -> `workers` rows, points, alerts.

Why it exists: it hands the runtime (`streams.pipeline`) the rules of `streams.domain.worker`:
heartbeats fold into the worker's state (a fresh one after silence clears its `worker.inactive`
alert), the sweep marks a worker silent for FLEETSTREAM_WORKER_INACTIVE_SECONDS inactive (one
alert) and drops one silent for longer than its retention (`FLEETSTREAM_RETENTION_SECONDS`
workers=...; its row stays). Every worker of a batch is projected, changed or not: after a crash
between storing states and writing rows, the redelivered batch must still write its rows (the
`last_update` guard makes rewriting harmless).
What it must not do: decide anything about activity itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.event import decode, epoch_micros
from schemas.worker import WorkerHeartbeat
from streams import tables, topics
from streams.app import settings
from streams.domain import worker
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import points, postgres, register
from streams.projections import worker as projection
from streams.projections.points import SINK as POINTS


class Workers(Domain[WorkerHeartbeat]):
    """Heartbeats folded into compute-worker states, keyed by worker_id."""

    name = "worker"

    def __init__(self, inactive_after_s: float, retention_s: float) -> None:
        self.inactive_after_s = inactive_after_s
        self.retention_us = round(retention_s * 1_000_000)

    def decode(self, record: Record) -> WorkerHeartbeat:
        return decode(WorkerHeartbeat, record.value or b"")

    def key(self, event: WorkerHeartbeat) -> str:
        return event.worker_id

    def event_us(self, event: WorkerHeartbeat) -> int:
        return epoch_micros(event.ts)

    def fold(self, key: str, before: State | None, events: Sequence[WorkerHeartbeat],
             now_us: int) -> Step:
        result = worker.apply_heartbeats(before, events, now_us, self.inactive_after_s)
        if result is None:
            return Step(emitted=events)
        return Step(result[0], result[1], emitted=events)

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        if state is None or step.delete:
            return {}
        point = projection.points(key, step.emitted)
        return {"postgres": [projection.row(state)], POINTS: [point] if point else []}

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        if now_us - state["last_update_us"] >= self.retention_us:
            return Step(delete=True)
        swept = worker.sweep(state, now_us, self.inactive_after_s)
        return None if swept is None else Step(swept[0], [swept[1]])


pipeline = register(
    Workers(settings.worker_inactive_seconds, settings.retention_seconds["workers"]),
    topics.heartbeat, tables.workers, [postgres(), points()],
    sweep_quiet_s=settings.worker_inactive_seconds)

