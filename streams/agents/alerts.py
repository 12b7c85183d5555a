"""The shared alerts topic -> PostgreSQL `alerts` table (one row per raised alert).

Why it exists: every domain (backup jobs, workers, nodes) raises and clears alerts on one topic;
this agent is their single projection. A `raised` alert inserts its row keyed by the
deterministic `alert_id` (ON CONFLICT DO NOTHING: a re-raised alert after a crash is a no-op); a
`cleared` alert sets `cleared_at` on the open row of the same kind and subject raised no later
than it (a replayed clear finds no open row and changes nothing). Within a batch the inserts run
before the clears, and the `raised_at <= cleared` condition keeps a clear from closing a row
raised after it.
What it must not do: decide anything about alerts; it only records them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.alert import Alert
from schemas.codec import dumps
from streams import topics
from streams.app import app, settings
from streams.batches import decode_batch
from streams.sinks import database

RAISE_SQL = (
    "INSERT INTO alerts (alert_id, kind, subject, raised_at, detail) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[]) "
    "ON CONFLICT (alert_id) DO NOTHING")
CLEAR_SQL = (
    "UPDATE alerts SET cleared_at = $3 "
    "WHERE kind = $1 AND subject = $2 AND cleared_at IS NULL AND raised_at <= $3")


async def project(alerts: Sequence[Alert]) -> None:
    raised = [a for a in alerts if a.state == "raised"]
    cleared = [(a.kind, a.subject, a.at) for a in alerts if a.state == "cleared"]
    statements: list[tuple[str, list[Any]]] = []
    if raised:
        statements.append((RAISE_SQL, [(
            [a.alert_id for a in raised], [a.kind for a in raised],
            [a.subject for a in raised], [a.at for a in raised],
            [dumps(a.detail).decode() for a in raised])]))
    statements.append((CLEAR_SQL, cleared))
    await database().write(statements, what="alerts")


@app.agent(topics.alerts)
async def record_alerts(stream: Any) -> None:
    async for records in stream.take_events(settings.batch_max_lines,
                                            within=settings.batch_max_sec):
        decoded = await decode_batch(records, Alert)
        if decoded:
            await project([item.event for item in decoded])
