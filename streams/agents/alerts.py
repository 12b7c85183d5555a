"""The shared alerts topic -> PostgreSQL `alerts` (one row per raised alert) and Alertmanager.

Why it exists: every domain (backup jobs, workers, nodes) raises and clears alerts on one topic;
this stateless pipeline is their single projection (`streams.projections.alerts`: raised alerts
insert by their deterministic id, clearing alerts close the row they name). With
`FLEETSTREAM_ALERTMANAGER_URL` set, each transition is also sent to Alertmanager after PostgreSQL
took it (`streams.projections.alertmanager`: same labels for a raise and its clear, so re-sends by
another worker or after a restart are deduplicated there). An Alertmanager outage holds this
pipeline (retried, `/health` degraded) like any sink; nothing is lost.
What it must not do: decide anything about alerts; it only records them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.alert import Alert
from schemas.event import decode, epoch_micros
from streams import topics
from streams.app import settings
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import postgres, register
from streams.pipeline.sink import Sink
from streams.pipeline.stores import NoState
from streams.projections import alertmanager
from streams.projections import alerts as projection
from streams.sinks.alertmanager import AlertmanagerSink


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
        sent = (alertmanager.alert(alert) for alert in step.emitted)
        return {"postgres": [projection.row(alert) for alert in step.emitted],
                "alertmanager": [record for record in sent if record is not None]}


def sinks(alertmanager_url: str) -> list[Sink]:
    """PostgreSQL, then Alertmanager when a URL is set (people hear of what is recorded)."""
    chosen: list[Sink] = [postgres()]
    if alertmanager_url:
        chosen.append(AlertmanagerSink(alertmanager_url))
    return chosen


pipeline = register(Alerts(), topics.alerts, NoState(), sinks(settings.alertmanager_url))
