"""The shared alerts topic -> PostgreSQL `alerts` table (one row per raised alert).

Why it exists: every domain (backup jobs, workers, nodes) raises and clears alerts on one topic;
this stateless pipeline is their single projection (`streams.projections.alerts`: raised alerts
insert by their deterministic id, clearing alerts close the row they name).
What it must not do: decide anything about alerts; it only records them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.alert import Alert
from schemas.event import decode, epoch_micros
from streams import topics
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import NoState, postgres, register
from streams.projections import alerts as projection


class Alerts(Domain[Alert]):
    """Alerts as they are announced, keyed by subject (the topic's key)."""

    name = "alerts"

    def decode(self, record: Record, latest: datetime) -> Alert:
        return decode(Alert, record.value or b"", latest=latest)

    def key(self, event: Alert) -> str:
        return event.subject

    def event_us(self, event: Alert) -> int:
        return epoch_micros(event.at)

    def fold(self, key: str, before: State | None, events: Sequence[Alert],
             now_us: int) -> Step:
        return Step(emitted=events)

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        return {"postgres": [projection.row(alert) for alert in step.emitted]}


pipeline = register(Alerts(), topics.alerts, NoState(), [postgres()])
