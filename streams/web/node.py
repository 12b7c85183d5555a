"""Node endpoints: seed 000 ingest, `GET /nodes`, `GET /nodes/{node_id}`, and `WS /ws/telemetry`.

Why it exists: node telemetry arrives over HTTP in the seed's API format as well as from the node
agent, and is shown three ways: the complete list (scatter-gather over the workers), one node
(answered by its owner), and a live stream in the seed's WebSocket format.

The live stream must show every node on every worker, but a worker's agent only sees its own
partitions. So each worker runs its own group-less consumer of `telemetry.node` from the latest
offset (`live_feed`), computes rates with the same `advance` as the agent, and fans messages out
through `LiveHub`. The hub never waits on a client: each client has a bounded queue, and a client
that lets it fill up (too slow, or stalled) is disconnected with close code 1008 instead of
slowing down the feed or the worker.

What it must not do: write projections or the node table (streams/agents/node.py does).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import WSCloseCode, WSMsgType
from aiohttp import web as aioweb
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from faust.web.exceptions import NotFound

from schemas.adapters.node import from_seed_api, to_seed_ws
from schemas.codec import dumps
from schemas.errors import InvalidEvent
from schemas.event import decode, now_utc
from schemas.node import NodeSnapshot
from streams import topics
from streams.agents.node import current, state
from streams.app import app, settings
from streams.domain.node import NodeState, advance
from streams.web.cluster import gather, is_local_request
from streams.web.ingest import accept

log = logging.getLogger(__name__)

INGEST_PATH = "/api/telemetry/snapshot"
# Messages a live client may have waiting. At one snapshot per node per minute this is minutes of
# slack for hundreds of nodes; a client further behind than this is not keeping up.
CLIENT_QUEUE_SIZE = 256
_CLOSE_TIMEOUT = 5.0
_RETRY_SECONDS = 2.0


@app.page(INGEST_PATH)
class SnapshotIngest(View):
    """Seed 000's `POST /api/telemetry/snapshot`: answers once Kafka has the snapshot."""

    async def post(self, request: Request) -> Response:
        event = await accept(
            cast(aioweb.Request, request),
            lambda body: from_seed_api(body, received_at=now_utc(), source=f"http:{INGEST_PATH}"),
            topics.node,
            key_of=lambda snapshot: snapshot.node_id,
        )
        return self.json({
            "status": "success",
            "message": "Telemetry snapshot accepted",
            "node_id": event.node_id,
            "timestamp": event.ts.isoformat().replace("+00:00", "Z"),
            "event_id": str(event.event_id),
        })


def _local_nodes() -> dict[str, Any]:
    return {node_id: NodeState.from_value(value).view() for node_id, value in state.owned_items()}


@app.page("/nodes")
class Nodes(View):
    """Every node's latest snapshot and rates, from all workers, sorted by node_id."""

    async def get(self, request: Request) -> Response:
        nodes = await gather(request, state, _local_nodes)
        if is_local_request(request):
            return self.json(nodes)
        return self.json({"count": len(nodes), "nodes": [nodes[k] for k in sorted(nodes)]})


@app.page("/nodes/{node_id}")
class Node(View):
    """One node's latest snapshot and rates, answered by the worker owning the node."""

    @app.table_route(table=state.table, match_info="node_id")
    # `self: View`: faust types table_route's handler as taking any View.
    async def get(self: View, request: Request, *args: Any, **match: Any) -> Response:
        node_id = str(match["node_id"])
        node = current(node_id)
        if node is None:
            raise NotFound(f"node {node_id!r} is unknown: no snapshot received")
        return self.json(node.view())


@dataclass(eq=False)
class LiveClient:
    """One WebSocket client's bounded queue, and why it must go (set once)."""

    queue: asyncio.Queue[str]
    leaving: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = WSCloseCode.OK
    reason: str = ""

    def offer(self, message: str) -> bool:
        """Queue a message without waiting; False (and asked to leave) when the queue is full."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.leave(WSCloseCode.POLICY_VIOLATION, "too slow: live telemetry queue overflowed")
            return False
        return True

    def leave(self, code: int, reason: str) -> None:
        if not self.leaving.is_set():
            self.close_code, self.reason = code, reason
            self.leaving.set()


class LiveHub:
    """Fans live messages out to every connected client; never waits on any of them."""

    def __init__(self, queue_size: int = CLIENT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.clients: set[LiveClient] = set()
        self.dropped_total = 0

    def broadcast(self, message: str) -> None:
        for client in list(self.clients):
            if not client.offer(message):
                self.clients.discard(client)
                self.dropped_total += 1
                log.warning("live.client_dropped reason=%r clients=%d dropped_total=%d",
                            client.reason, len(self.clients), self.dropped_total)

    def close_all(self, reason: str) -> None:
        for client in self.clients:
            client.leave(WSCloseCode.GOING_AWAY, reason)

    async def serve(self, ws: aioweb.WebSocketResponse) -> None:
        """Stream to `ws` until the client leaves, is dropped, or the worker stops."""
        client = LiveClient(asyncio.Queue(self.queue_size))
        self.clients.add(client)
        log.info("live.client_joined clients=%d", len(self.clients))
        tasks = [asyncio.create_task(_send(ws, client)), asyncio.create_task(_read(ws)),
                 asyncio.create_task(client.leaving.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.clients.discard(client)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await asyncio.wait_for(
                    ws.close(code=client.close_code, message=client.reason.encode()),
                    _CLOSE_TIMEOUT)
            except TimeoutError:
                log.info("live.close_timeout reason=%r (transport closed)", client.reason)
            log.info("live.client_left clients=%d reason=%r", len(self.clients), client.reason)


async def _send(ws: aioweb.WebSocketResponse, client: LiveClient) -> None:
    while True:
        await ws.send_str(await client.queue.get())


async def _read(ws: aioweb.WebSocketResponse) -> None:
    # Clients only listen; reading keeps pings answered and notices when they close.
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            return


hub = LiveHub()


@app.page("/ws/telemetry")
class TelemetryStream(View):
    """`WS /ws/telemetry`: live node snapshots of all nodes, in the seed's WebSocket format."""

    async def get(self, request: Request) -> Any:
        ws = aioweb.WebSocketResponse(heartbeat=30.0, timeout=_CLOSE_TIMEOUT)
        await ws.prepare(cast(aioweb.Request, request))
        await hub.serve(ws)
        return ws


class LiveFeed:
    """Reads every partition of the node topic from its end and broadcasts each snapshot."""

    def __init__(self, live: LiveHub) -> None:
        self.hub = live
        self.nodes: dict[str, NodeState] = {}

    def message(self, raw: bytes) -> str | None:
        """The seed WebSocket message of one raw record; None for an invalid or stale record."""
        try:
            snapshot = decode(NodeSnapshot, raw)
        except InvalidEvent:
            return None  # the agent dead-letters it; the live view just skips it
        step = advance(self.nodes.get(snapshot.node_id), snapshot)
        if step.state is None:
            return None
        self.nodes[snapshot.node_id] = step.state
        return dumps(to_seed_ws(snapshot, step.rates)).decode()

    async def run(self) -> None:
        topic = topics.node.get_topic_name()
        while True:
            # Group-less: every worker reads every partition; new ones are picked up too.
            consumer = AIOKafkaConsumer(
                topic, bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None,
                enable_auto_commit=False, auto_offset_reset="latest",
                client_id=f"{settings.app_id}-live-{settings.web_port}")
            try:
                await consumer.start()
                log.info("live.feed_started topic=%s", topic)
                await self._broadcast(consumer)
            except KafkaError as exc:
                log.warning("live.feed_retry topic=%s error=%r", topic, exc)
                await asyncio.sleep(_RETRY_SECONDS)
            finally:
                await consumer.stop()

    async def _broadcast(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    message = self.message(record.value)
                    if message is not None:
                        self.hub.broadcast(message)


@app.task
async def live_feed() -> None:
    """Keep the live stream fed for as long as the worker runs."""
    try:
        await LiveFeed(hub).run()
    finally:
        hub.close_all("worker stopping")
