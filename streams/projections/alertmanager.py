"""An `Alert` -> the Alertmanager API v2 alert that makes it reach people (pure).

Why it exists: Alertmanager notifies, groups, silences and deduplicates; fleetstream only has to
tell it, once per transition, that an alert started or ended. Alertmanager identifies an alert by
its labels, so a raised alert and the alert that clears it carry the same labels
{alertname: kind, subject, severity, alert_id (of the raised alert)}: a re-send by a second worker,
after a restart or a replay merges into the alert Alertmanager already has.

Why a raised alert has an `endsAt` a year away: an alert sent without one is resolved by
Alertmanager after its `resolve_timeout` (5 minutes by default) unless it is re-sent, which is what
Prometheus does every minute. fleetstream sends each transition once; the clearing alert, not a
timeout, ends it (`endsAt` = the clear time, in the past, so Alertmanager resolves it at once).
Both records are deterministic (derived from the alert alone), so re-sending them is idempotent.
Alertmanager keeps alerts in memory only: a restarted Alertmanager forgets the firing ones until
their next transition (the PostgreSQL `alerts` table, open rows, stays the durable record).

What it must not do: read a clock, or decide whether an alert is worth sending.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schemas.alert import Alert

FIRING_HORIZON = timedelta(days=365)
"""How long after its start a raised alert stays firing if its clear never came."""

SEVERITY = {"backup.stale": "warning", "backup.stalled": "critical",
            "worker.inactive": "warning", "node.silent": "warning"}
"""The severity label of each kind (a kind not listed: `warning`), as the alert rules use it."""


def _rfc3339(alert: Alert, delta: timedelta = timedelta()) -> str:
    return (alert.at + delta).isoformat().replace("+00:00", "Z")


def labels(kind: str, subject: str, raised_id: str) -> dict[str, str]:
    """What identifies one raised alert to Alertmanager (the same on its clear)."""
    return {"alertname": kind, "subject": subject, "severity": SEVERITY.get(kind, "warning"),
            "alert_id": raised_id}


def alert(event: Alert) -> dict[str, Any] | None:
    """The API v2 alert for one transition; None for a clear that does not name its raise."""
    # The same annotations on both: Alertmanager shows the newest record's.
    annotations = {"summary": f"{event.kind} {event.subject}"}
    if event.state == "raised":
        return {"labels": labels(event.kind, event.subject, event.alert_id),
                "annotations": annotations, "startsAt": _rfc3339(event),
                "endsAt": _rfc3339(event, FIRING_HORIZON)}
    if event.clears is None:
        # Records older than `clears` cannot name the labels of the alert they end.
        return None
    # No startsAt: Alertmanager keeps the raise's (it takes the earliest), and a clear timed
    # before its raise (an outbox draining after a blip) is still valid (start <= end).
    return {"labels": labels(event.kind, event.subject, event.clears),
            "annotations": annotations, "endsAt": _rfc3339(event)}
