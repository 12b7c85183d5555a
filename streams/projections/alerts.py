"""The `alerts` table: one row per raised alert, closed by the alert that clears it.

Why it exists: every domain's alerts land in one table. A raised alert inserts its row keyed by
its deterministic `alert_id` (a re-sent one is a no-op). A clearing alert closes the row whose id
it names (`clears`), whatever the order of their event times (a reporter's outbox draining after
a blip can time a clear before its raise). Older clearing records without `clears` close the open
row of the same kind and subject raised no later than them. Within a batch, raises are written
before clears, so a raise and its clear in one batch end closed.
"""

from __future__ import annotations

from schemas.alert import Alert
from schemas.codec import dumps
from streams.projections.rows import Row, insert_new, update_from

RAISED = insert_new("alerts", (
    ("alert_id", "text"), ("kind", "text"), ("subject", "text"), ("raised_at", "timestamptz"),
    ("detail", "jsonb"),
), key=("alert_id",))

CLEARED = update_from(
    "clear:alerts",
    "UPDATE alerts SET cleared_at = u.at FROM {unnest} "
    "WHERE alerts.alert_id = u.clears AND alerts.cleared_at IS NULL",
    (("clears", "text"), ("at", "timestamptz")), order=1)

CLEARED_BY_SUBJECT = update_from(
    "clear_by_subject:alerts",
    "UPDATE alerts SET cleared_at = u.at FROM {unnest} "
    "WHERE alerts.kind = u.kind AND alerts.subject = u.subject AND alerts.cleared_at IS NULL "
    "AND alerts.raised_at <= u.at",
    (("kind", "text"), ("subject", "text"), ("at", "timestamptz")), order=2)


def row(alert: Alert) -> Row:
    if alert.state == "raised":
        return Row(RAISED, (alert.alert_id, alert.kind, alert.subject, alert.at,
                            dumps(alert.detail).decode()))
    if alert.clears is not None:
        return Row(CLEARED, (alert.clears, alert.at))
    return Row(CLEARED_BY_SUBJECT, (alert.kind, alert.subject, alert.at))
