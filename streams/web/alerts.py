"""`GET /alerts[?status=open][&limit=100]`: recorded alerts, newest raised first, from PostgreSQL.

Why it exists: the dashboard's open-alerts panel (and any operator) needs the alerts that are
raised and not yet cleared across the whole fleet. The alerts pipeline records every transition
in the `alerts` table (`streams.projections.alerts`), which every worker can read, so any worker
answers the whole list without a scatter-gather: no table partition holds it.
`status` is `open` (default: not cleared), `cleared` or `all`; `limit` is 1..`MAX_LIMIT`.

What it must not do: write, or decide anything about alerts (the domains raise and clear them);
every query parameter is validated before the database is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from faust.web.exceptions import ValidationError as BadRequest

from schemas.codec import loads
from streams.app import app
from streams.pipeline.register import database
from streams.pipeline.sink import SinkError

STATUSES: dict[str, str] = {
    "open": "WHERE cleared_at IS NULL",
    "cleared": "WHERE cleared_at IS NOT NULL",
    "all": "",
}
"""`status` -> its filter; the SQL is chosen from this fixed map, never built from the query."""
DEFAULT_STATUS = "open"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse_query(query: Mapping[str, str]) -> tuple[str, int]:
    """(status, limit) of the query; 400 for an unknown status or a limit out of range (a typo
    would otherwise answer a list that looks true)."""
    status = query.get("status", DEFAULT_STATUS)
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    # int() takes "+5", " 5" and "5_0": only plain digits are a limit.
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer within 1..{MAX_LIMIT}")
    return status, int(raw_limit)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def alert_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """One `alerts` row as the view answers it (asyncpg hands jsonb over as text)."""
    detail = row["detail"]
    return {"alert_id": row["alert_id"], "kind": row["kind"], "subject": row["subject"],
            "raised_at": _iso(row["raised_at"]), "cleared_at": _iso(row["cleared_at"]),
            "detail": loads(detail) if isinstance(detail, str) else detail}


async def recorded_alerts(status: str, limit: int) -> list[asyncpg.Record]:
    sql = ("SELECT alert_id, kind, subject, raised_at, cleared_at, detail FROM alerts "
           f"{STATUSES[status]} ORDER BY raised_at DESC, alert_id LIMIT $1")
    return await database().fetch(sql, limit)


@app.page("/alerts")
class Alerts(View):
    """`{"status": s, "count": n, "alerts": [...]}`, newest raised first."""

    async def get(self, request: Request) -> Response:
        status, limit = parse_query(request.query)
        try:
            rows = await recorded_alerts(status, limit)
        except SinkError as exc:
            raise ServiceUnavailable(f"the alerts database did not answer: {exc}") from exc
        alerts = [alert_view(dict(row)) for row in rows]
        return self.json({"status": status, "count": len(alerts), "alerts": alerts})
