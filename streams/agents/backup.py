"""Backup-job progress: `telemetry.backup` -> job table -> job and disk rows, points, alerts.

Why it exists: it hands the runtime (`streams.pipeline`) the domain's pure functions: the fold of
`streams.domain.backup` (job state from the set of reports, alerts when a stale job resumes), its
staleness sweep (one alert per level raised), retention (an ended job leaves the table after
`FLEETSTREAM_RETENTION_SECONDS` jobs=..., its rows stay), and the projections of
`streams.projections.backup`, and each report's place in the job's event-time window rollups
(`streams.domain.rollups`). What it must not do: compute, write or order anything itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.backup import ProgressReport, decode_progress
from schemas.event import epoch_micros
from streams import tables, topics
from streams.app import settings
from streams.domain import backup, rollups, windows
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import points, postgres, register
from streams.projections import backup as projection
from streams.projections.points import SINK as POINTS


class BackupJobs(Domain[ProgressReport]):
    """Progress reports folded into job states, keyed by job_id."""

    name = "backup"

    def __init__(self, stale_after_s: float, stalled_after_s: float, retention_s: float) -> None:
        self.stale_after_s = stale_after_s
        self.stalled_after_s = stalled_after_s
        self.retention_us = round(retention_s * 1_000_000)

    def decode(self, record: Record, latest: datetime) -> ProgressReport:
        return decode_progress(record.value or b"", latest=latest)

    def key(self, event: ProgressReport) -> str:
        return event.job_id

    def event_us(self, event: ProgressReport) -> int:
        return epoch_micros(event.ts)

    def fold(self, key: str, before: State | None, events: Sequence[ProgressReport],
             now_us: int) -> Step:
        measured = backup.measures(events)
        after = backup.apply_events(before, events, measured)
        assert after is not None
        alerts = backup.resume_alerts(before, after)
        after, rollup = windows.fold_windows(
            before, after, ((ts, rollups.job_sample(transferred)) for ts, transferred in measured),
            rollups.JOB)
        return Step(after, alerts, emitted=events, windows=rollup)

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        if state is None or step.delete:
            return {}
        # A point per batch of reports; a sweep changes staleness only, which is no new figure.
        point = projection.point(state) if step.emitted else None
        return {"postgres": projection.rows(state), POINTS: [point] if point else []}

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        ended = state["completed_us"]
        if ended is not None and now_us - ended >= self.retention_us:
            return Step(delete=True)
        swept = backup.sweep(state, now_us, self.stale_after_s, self.stalled_after_s)
        return None if swept is None else Step(swept[0], swept[1])

    def sweep_due_us(self, state: State) -> int | None:
        ended = state["completed_us"]
        due = [backup.next_staleness_us(state, self.stale_after_s, self.stalled_after_s),
               None if ended is None else ended + self.retention_us]
        return min((at for at in due if at is not None), default=None)


pipeline = register(
    BackupJobs(settings.stale_after_seconds, settings.stalled_after_seconds,
               settings.retention_seconds["jobs"]),
    topics.backup, tables.jobs, [postgres(), points()],
    sweep_quiet_s=settings.stale_after_seconds)
