"""The node agent's own HTTP port (seed 001's 8756): the live WebSocket stream, /health, /metrics.

Why it exists: seed 001's frontends connect straight to each node, `ws://<node>:8756`, and expect
a welcome message, then one metrics message per collection, in the seed's format
(`schemas.adapters.seed_ws`). The agent serves them itself, from the snapshots it takes anyway,
so the stream works with or without Kafka. The same port answers `GET /health` (is collection
alive) and `GET /metrics` (Prometheus, `producers.metrics`).

Slow clients never hold up collection: `publish` only encodes the message once and puts it in
each client's bounded queue without waiting; a client whose queue is full (it stopped reading) is
disconnected and logged, and every other client carries on.

What it must not do: block or await in `publish`, collect, or publish to Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from producers.metrics import AgentMetrics, OutboxFigures
from schemas.adapters.seed_ws import metrics_message, welcome
from schemas.codec import dumps
from schemas.event import now_utc
from schemas.node import NO_RATES, NodeSnapshot
from streams.domain.node import network_rates

log = logging.getLogger(__name__)

CLIENT_QUEUE = 16
"""Messages a client may fall behind by (16 intervals) before it is dropped."""
MAX_CLIENTS = 256
# A snapshot older than this many intervals means collection is stuck: /health says so.
STALE_INTERVALS = 3
# The first snapshot waits for a CPU sample, and a slow collection may take a few seconds.
FIRST_SNAPSHOT_GRACE_SECONDS = 5.0


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    sender: asyncio.Task[None] | None = None


class LiveServer:
    """Serves one node's snapshots to WebSocket clients, plus /health and /metrics."""

    def __init__(self, node_id: str, interval: float,
                 outbox_stats: Callable[[], Awaitable[OutboxFigures]],
                 metrics: AgentMetrics | None = None, stale_after: float | None = None) -> None:
        self.node_id = node_id
        self.interval = interval
        self._outbox_stats = outbox_stats
        self._metrics = metrics
        self.stale_after = (STALE_INTERVALS * interval + FIRST_SNAPSHOT_GRACE_SECONDS
                            if stale_after is None else stale_after)
        """/health answers 503 once the latest snapshot is older than this many seconds."""
        self._clients: set[_Client] = set()
        self._previous: NodeSnapshot | None = None
        self._last_snapshot_at: float | None = None
        self._started_at = time.monotonic()
        self._runner: web.AppRunner | None = None
        self.dropped_clients = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, snapshot: NodeSnapshot) -> None:
        """Send one snapshot to every client; never waits (see the module doc)."""
        previous, self._previous = self._previous, snapshot
        rates = NO_RATES if previous is None or snapshot.ts <= previous.ts else network_rates(
            previous, snapshot)
        self._last_snapshot_at = time.monotonic()
        if not self._clients:
            return
        text = dumps(metrics_message(snapshot, rates)).decode()
        for client in list(self._clients):
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                self._drop(client, "too_slow")

    def _drop(self, client: _Client, reason: str) -> None:
        self._clients.discard(client)
        self.dropped_clients += 1
        log.warning("node.ws_client_dropped peer=%s reason=%s queued=%d", client.request.remote,
                    reason, client.queue.qsize())
        if client.sender is not None:
            client.sender.cancel()
        # The client is not reading, so a close handshake could wait on it: cut the connection.
        if client.request.transport is not None:
            client.request.transport.abort()

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/", self._root), web.get("/health", self._health),
                        web.get("/metrics", self._serve_metrics)])
        return app

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        log.info("node.ws_listening address=%s:%d", host, port)

    async def stop(self) -> None:
        for client in list(self._clients):
            if client.sender is not None:
                client.sender.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _root(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
        if not ws.can_prepare(request).ok:
            return web.json_response(
                {"error": f"connect with a WebSocket client: ws://{request.host}/"}, status=426,
                headers={"Upgrade": "websocket"})
        if len(self._clients) >= MAX_CLIENTS:
            return web.json_response({"error": f"too many clients (limit {MAX_CLIENTS})"},
                                     status=503)
        await ws.prepare(request)
        client = _Client(ws, request)
        client.queue.put_nowait(dumps(welcome(self.node_id, self.interval, now_utc())).decode())
        client.sender = asyncio.create_task(self._send(client))
        self._clients.add(client)
        log.info("node.ws_client_connected peer=%s clients=%d", request.remote, self.clients)
        try:
            # Clients have nothing to say; reading is how their close (or death) is noticed.
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(client)
            client.sender.cancel()
            log.info("node.ws_client_gone peer=%s clients=%d", request.remote, self.clients)
        return ws

    @staticmethod
    async def _send(client: _Client) -> None:
        while True:
            text = await client.queue.get()
            try:
                await client.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # closing: the reader loop cleans up

    async def _health(self, _request: web.Request) -> web.Response:
        now = time.monotonic()
        since = self._last_snapshot_at if self._last_snapshot_at is not None else self._started_at
        age = now - since
        healthy = age <= self.stale_after
        stats = await self._outbox_stats()
        body: dict[str, Any] = {
            "status": "ok" if healthy else "stale",
            "node_id": self.node_id,
            "interval_seconds": self.interval,
            "last_snapshot_age_seconds": None if self._last_snapshot_at is None else round(age, 3),
            "clients": self.clients,
            "outbox": {"events": stats.depth, "bytes": stats.bytes, "dropped": stats.dropped},
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        if self._metrics is None:
            raise web.HTTPNotFound(text="metrics are not collected by this agent")
        body, content_type = await self._metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})
