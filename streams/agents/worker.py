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
from datetime import datetime

from schemas.event import epoch_micros, parse_json_object, validate
from schemas.worker import HeartbeatTopicEvent, WorkerForget, WorkerHeartbeat
from streams import tables, topics
from streams.app import settings
from streams.domain import worker
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import points, postgres, register
from streams.projections import worker as projection
from streams.projections.points import SINK as POINTS


class Workers(Domain[HeartbeatTopicEvent]):
    """Heartbeats (and unregistrations) folded into compute-worker states, keyed by worker_id."""

    name = "worker"

    def __init__(self, inactive_after_s: float, retention_s: float) -> None:
        self.inactive_after_s = inactive_after_s
        self.retention_us = round(retention_s * 1_000_000)

    def decode(self, record: Record, latest: datetime) -> HeartbeatTopicEvent:
        body = parse_json_object(record.value or b"")
        if body.get("schema") == WorkerForget.SCHEMA:
            return validate(WorkerForget, body, latest=latest)
        return validate(WorkerHeartbeat, body, latest=latest)

    def key(self, event: HeartbeatTopicEvent) -> str:
        return event.worker_id

    def event_us(self, event: HeartbeatTopicEvent) -> int:
        return epoch_micros(event.ts)

    def fold(self, key: str, before: State | None, events: Sequence[HeartbeatTopicEvent],
             now_us: int) -> Step:
        forgets = [i for i, event in enumerate(events) if isinstance(event, WorkerForget)]
        forgotten: list[HeartbeatTopicEvent] = []
        if forgets:
            # Unregistered: what came before the last request is gone, what came after counts.
            forgotten = [events[forgets[-1]]]
            before, events = None, events[forgets[-1] + 1:]
        beats = [event for event in events if isinstance(event, WorkerHeartbeat)]
        result = worker.apply_heartbeats(before, beats, now_us, self.inactive_after_s)
        if result is None:
            return Step(delete=bool(forgets), emitted=[*forgotten, *beats])
        return Step(result[0], result[1], emitted=[*forgotten, *beats])

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        rows = [projection.forgotten(e) for e in step.emitted if isinstance(e, WorkerForget)]
        if state is not None and not step.delete:
            rows.append(projection.row(state))
        beats = [e for e in step.emitted if isinstance(e, WorkerHeartbeat)]
        point = projection.points(key, beats)
        return {"postgres": rows, POINTS: [point] if point else []}

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        if now_us - state["last_update_us"] >= self.retention_us:
            return Step(delete=True)
        swept = worker.sweep(state, now_us, self.inactive_after_s)
        return None if swept is None else Step(swept[0], [swept[1]])

    def sweep_due_us(self, state: State) -> int:
        last: int = state["last_update_us"]
        gone = last + self.retention_us
        if not state["is_active"]:
            return gone
        return min(gone, worker.inactive_at(last, self.inactive_after_s))


pipeline = register(
    Workers(settings.worker_inactive_seconds, settings.retention_seconds["workers"]),
    topics.heartbeat, tables.workers, [postgres(), points()],
    sweep_quiet_s=settings.worker_inactive_seconds)

