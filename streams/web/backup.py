"""Backup-job HTTP: seed 003's telemetry ingest and the `/jobs` views.

- `POST /api/v1/telemetry/{job_type}/{job_id}`: seed 003's body (see `schemas.adapters.seed003`),
  answered with seed 003's response only after Kafka acknowledged the event.
- `GET /jobs[?status=running][&staleness=stale][&limit=500][&offset=0]`: jobs a page at a time,
  complete across workers (scatter-gather), newest telemetry first.
- `GET /jobs/{job_id}`: one job with its disks and stale flag, answered by the key's owner.
- `GET /jobs/{job_id}/rollups`: the job's event-time window rollups, answered by its owner.
What it must not do: compute job state (the agent and the domain module do), or read PostgreSQL
(views answer from the live tables).
"""

from __future__ import annotations

from typing import Any, get_args

from aiohttp import web as aioweb
from faust.web import Request, Response, View
from faust.web.exceptions import ValidationError as BadRequest

from schemas.adapters.seed003 import from_seed_body
from schemas.backup import BackupProgress, JobStatus
from schemas.event import now_utc
from streams import topics
from streams.app import app
from streams.domain.backup import STALENESS, summary
from streams.tables import job_rollups
from streams.tables import jobs as state
from streams.web.cluster import gather, is_local_request, value_or_404
from streams.web.ingest import accept, latest_allowed


def _rfc3339_now() -> str:
    return now_utc().isoformat(timespec="seconds").replace("+00:00", "Z")


@app.page("/api/v1/telemetry/{job_type}/{job_id}")
class BackupTelemetry(View):
    """Seed 003's push endpoint for the backup client's progress reports."""

    async def post(self, request: aioweb.Request, job_type: str, job_id: str) -> Response:
        source = f"http:{request.remote or 'unknown'}"

        def parse(body: bytes) -> BackupProgress:
            return from_seed_body(job_type, job_id, body, source, latest=latest_allowed())

        await accept(request, parse, topics.backup, key_of=lambda event: event.job_id)
        return self.json({"status": "success", "message": "Telemetry received and processed",
                          "timestamp": _rfc3339_now()})


DEFAULT_LIMIT = 500
MAX_LIMIT = 10_000
MAX_OFFSET = 2**31 - 1
"""The answer echoes `offset` and `offset + limit`: beyond 64 bits the JSON encoder raised and the
view answered 500. No table holds anywhere near this many jobs."""


def _limit(request: Request) -> tuple[int, int]:
    """(limit, offset) from the query; 400 for anything but small non-negative integers."""
    try:
        limit = int(request.query.get("limit", DEFAULT_LIMIT))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise BadRequest("limit and offset must be integers") from None
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"limit must be within 1..{MAX_LIMIT} and offset within "
                         f"0..{MAX_OFFSET}")
    return limit, offset


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """The query parameter `name` if given; 400 unless it is one of `allowed` (a typo in a
    filter would otherwise answer an empty list that looks true)."""
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    return value


@app.page("/jobs")
class Jobs(View):
    """Jobs, newest telemetry first, a page at a time (`?limit=` default 500, `?offset=`);
    `?status=` / `?staleness=` (fresh, stale, stalled) keep only the jobs that have it. `total`
    counts every matching job."""

    async def get(self, request: Request) -> Response:
        wanted = _choice(request, "status", get_args(JobStatus))
        staleness = _choice(request, "staleness", STALENESS)
        limit, offset = _limit(request)

        def local() -> dict[str, Any]:
            return {job_id: summary(job) for job_id, job in state.owned_items()
                    if (wanted is None or job["status"] == wanted)
                    and (staleness is None or STALENESS[job["stale_level"]] == staleness)}

        jobs = await gather(request, state, local)
        if is_local_request(request):
            return self.json(jobs)
        ordered = sorted(jobs.values(), key=lambda job: (job["last_telemetry_at"] or "",
                                                         job["job_id"]), reverse=True)
        page = ordered[offset:offset + limit]
        return self.json({"jobs": page, "count": len(page), "total": len(ordered),
                          "offset": offset,
                          "next_offset": offset + limit if offset + limit < len(ordered)
                          else None})


@app.page("/jobs/{job_id}")
class Job(View):
    """One job: seed 003's job fields, its disks, and whether it is stale or stalled."""

    # faust types view handlers without route parameters; job_id comes from the route.
    @app.table_route(table=state.table, match_info="job_id")  # type: ignore[arg-type]
    async def get(self, request: Request, job_id: str) -> Response:
        return self.json(summary(value_or_404(
            state, job_id, f"no backup job {job_id!r} has reported progress")))


@app.page("/jobs/{job_id}/rollups")
class JobRollups(View):
    """One job's event-time window rollups (reports, bytes, throughput), answered by its owner."""

    @app.table_route(table=state.table, match_info="job_id")  # type: ignore[arg-type]
    async def get(self, request: Request, job_id: str) -> Response:
        value = value_or_404(state, job_id, f"no backup job {job_id!r} has reported progress")
        return self.json({"job_id": job_id, **job_rollups.view(job_id, value)})
