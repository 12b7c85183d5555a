"""Node endpoints: seed 000 ingest, `GET /nodes`, `GET /nodes/{node_id}[/rollups]`, `WS /ws/...`.

Why it exists: node telemetry arrives over HTTP in the seed's API format as well as from the node
agent, and is shown four ways: the complete list (scatter-gather over the workers), one node and
its event-time window rollups (answered by its owner), and a live stream in the seed's WebSocket
format.

The live stream shows every node on every worker: each worker reads the whole node topic from
its end (`streams.web.live`: group-less feed, bounded per-client queues, slow clients dropped)
and computes rates with the same `advance` as the agent.

What it must not do: write projections or the node table (streams/agents/node.py does).
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web as aioweb
from faust.web import Request, Response, View
from faust.web.exceptions import NotFound

from schemas.adapters.node import from_seed_api, to_seed_ws
from schemas.codec import dumps
from schemas.errors import InvalidEvent
from schemas.event import decode, now_utc
from schemas.node import NodeSnapshot
from streams import topics
from streams.app import app
from streams.domain.node import NodeState, advance
from streams.tables import node_rollups
from streams.tables import nodes as state
from streams.web.cluster import gather, is_local_request, serving_or_503, value_or_404
from streams.web.ingest import accept, latest_allowed
from streams.web.live import LiveHub, keep_fed

INGEST_PATH = "/api/telemetry/snapshot"


@app.page(INGEST_PATH)
class SnapshotIngest(View):
    """Seed 000's `POST /api/telemetry/snapshot`: answers once Kafka has the snapshot."""

    async def post(self, request: Request) -> Response:
        event = await accept(
            cast(aioweb.Request, request),
            lambda body: from_seed_api(body, received_at=now_utc(), source=f"http:{INGEST_PATH}",
                                       latest=latest_allowed()),
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
        serving_or_503()
        value = state.get(node_id)
        node = None if value is None else NodeState.from_value(value)
        if node is None:
            raise NotFound(f"node {node_id!r} is unknown: no snapshot received")
        return self.json(node.view())


@app.page("/nodes/{node_id}/rollups")
class NodeRollups(View):
    """One node's event-time window rollups (CPU, memory, network), answered by its owner."""

    @app.table_route(table=state.table, match_info="node_id")
    async def get(self: View, request: Request, *args: Any, **match: Any) -> Response:
        node_id = str(match["node_id"])
        value = value_or_404(state, node_id, f"node {node_id!r} is unknown: no snapshot received")
        return self.json({"node_id": node_id, **node_rollups.view(node_id, value)})


hub = LiveHub("telemetry")


@app.page("/ws/telemetry")
class TelemetryStream(View):
    """`WS /ws/telemetry`: live node snapshots of all nodes, in the seed's WebSocket format."""

    async def get(self, request: Request) -> Any:
        return await hub.websocket(request)


class NodeMessages:
    """Turns raw node records into seed WebSocket messages, with rates from the previous one."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeState] = {}

    def __call__(self, raw: bytes) -> str | None:
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


@app.task
async def live_feed() -> None:
    """Keep the live stream fed for as long as the worker runs."""
    await keep_fed(hub, (topics.node.get_topic_name(), NodeMessages()))
