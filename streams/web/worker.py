"""Seed 004's HTTP API for compute workers, and the heartbeat ingest endpoint.

- `POST /api/heartbeat`: a `worker.heartbeat/1` body (the envelope fields are optional, see
  `schemas.worker.from_body`); 202 once Kafka has it; 401/413/422 from `streams.web.ingest`.
- `GET /workers`: worker_id -> basic stats; `GET /telemetry`: worker_id -> telemetry. Both are
  complete whatever the number of stream workers (`streams.web.cluster.gather`).
- `GET /telemetry/{worker_id}`: answered by the stream worker owning that worker; 404 with a
  message for a worker never heard of.
- `DELETE /workers/{worker_id}`: unregister a worker (`fleetstream workers forget ID`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web as aioweb
from faust.web import Request, Response, View

from schemas.errors import InvalidEvent
from schemas.event import now_utc, validate
from schemas.worker import WorkerForget, WorkerHeartbeat, from_body
from streams import topics
from streams.app import app
from streams.domain.worker import State, basic, telemetry
from streams.tables import workers
from streams.web.cluster import gather, value_or_404
from streams.web.ingest import (
    UnprocessableEntity,
    accept,
    check_token,
    latest_allowed,
    publish,
)


def _local(view: Callable[[State], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    return lambda: {worker_id: view(state) for worker_id, state in workers.owned_items()}


@app.page("/api/heartbeat")
class HeartbeatIngest(View):
    """Accepts one heartbeat over HTTP for workers that do not use the emitter library."""

    async def post(self, request: aioweb.Request) -> Response:
        def parse(raw: bytes) -> WorkerHeartbeat:
            return from_body(raw, source=f"http:{request.remote or 'unknown'}",
                             received_at=now_utc(), latest=latest_allowed())

        event = await accept(request, parse, topics.heartbeat, key_of=lambda e: e.worker_id)
        return self.json({"status": "accepted", "worker_id": event.worker_id,
                          "event_id": str(event.event_id)}, status=202)


@app.page("/workers")
class Workers(View):
    """Every known worker's basic stats, keyed by worker_id."""

    async def get(self, request: Request) -> Response:
        return self.json(await gather(request, workers, _local(basic)))


@app.page("/telemetry")
class AllTelemetry(View):
    """Every known worker's telemetry (stats and running tasks), keyed by worker_id."""

    async def get(self, request: Request) -> Response:
        return self.json(await gather(request, workers, _local(telemetry)))


@app.page("/telemetry/{worker_id}")
class WorkerTelemetry(View):
    """One worker's telemetry, from the stream worker that owns it."""

    # faust types view handlers without route parameters; worker_id comes from the route.
    @app.table_route(table=workers.table, match_info="worker_id")  # type: ignore[arg-type]
    async def get(self, request: Request, worker_id: str) -> Response:
        return self.json(telemetry(value_or_404(
            workers, worker_id, f"unknown worker {worker_id!r}: no heartbeat received from it")))


@app.page("/workers/{worker_id}")
class Worker(View):
    """`DELETE`: unregister a worker (seed 004's leak check: workers never unregistered).

    Publishes `worker.forget/1` on the heartbeat topic with the worker's key, so it is ordered
    with its heartbeats; 202 once Kafka has it (the owner then drops the state and the row).
    Needs the ingest token when one is configured.
    """

    async def delete(self, request: aioweb.Request, worker_id: str) -> Response:
        check_token(request)
        try:
            forget = validate(WorkerForget, {
                "event_id": str(uuid.uuid4()), "source": f"http:{request.remote or 'unknown'}",
                "ts": now_utc().isoformat(), "worker_id": worker_id})
        except InvalidEvent as exc:
            raise UnprocessableEntity(
                "invalid worker id", errors=[e.as_dict() for e in exc.errors]) from None
        await publish(topics.heartbeat, forget.worker_id, forget.encode())
        return self.json({"status": "accepted", "worker_id": forget.worker_id,
                          "event_id": str(forget.event_id)}, status=202)
