"""Node snapshots → latest state per node (with network rates) → telemetry_history and `node`.

Why it exists: this is the glue between `telemetry.node` and the node projections; the decisions
(rates, duplicates, out-of-order) are made by `streams.domain.node.advance`.

Checkpoint order, per batch: decode (invalid → dead letter), compute every snapshot's step from
the state, write PostgreSQL and InfluxDB, and only then advance the table. A snapshot's row depends
on the state before it, so the state moves only once its rows are durable: a batch re-delivered
after a crash recomputes the same rows, which the sinks then ignore (primary key / same point).
Only this agent writes the node table, so nothing else can move it during the writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.adapters.node import HISTORY_COLUMNS, to_history_row
from schemas.node import NodeSnapshot
from streams import topics
from streams.app import app, settings
from streams.batches import Decoded, decode_batch
from streams.domain.node import NodeState, advance, influx_fields
from streams.sinks import database, influx
from streams.sinks.influx import line
from streams.state import KeyedState

state = KeyedState("nodes", topics.node, help="Latest snapshot and network rates of each node")

INSERT_HISTORY = (
    f"INSERT INTO telemetry_history ({', '.join(HISTORY_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(HISTORY_COLUMNS) + 1))}) "
    "ON CONFLICT (node_id, timestamp) DO NOTHING"
)


def current(node_id: str) -> NodeState | None:
    """The node's latest state in this worker's table (None when unknown here)."""
    value = state.get(node_id)
    return NodeState.from_value(value) if value is not None else None


async def apply(batch: Sequence[Decoded[NodeSnapshot]]) -> None:
    """Project a batch of snapshots, then advance the table (see the module's checkpoint order)."""
    advanced: dict[str, tuple[NodeState, int]] = {}
    rows: list[tuple[Any, ...]] = []
    lines: list[str] = []
    for item in batch:
        snapshot = item.event
        pending = advanced.get(snapshot.node_id)
        step = advance(pending[0] if pending else current(snapshot.node_id), snapshot)
        rows.append(to_history_row(snapshot, step.rates))
        point = line("node", {"node_id": snapshot.node_id},
                     influx_fields(snapshot, step.rates), snapshot.ts)
        if point is not None:
            lines.append(point)
        if step.state is not None:
            advanced[snapshot.node_id] = (step.state, item.partition)
    await database().write([(INSERT_HISTORY, rows)], what="telemetry_history")
    await influx().write(lines, what="node")
    for node_id, (new_state, partition) in advanced.items():
        state.put(node_id, new_state.to_value(), partition)


@app.agent(topics.node)
async def process(stream: Any) -> None:
    async for records in stream.take_events(settings.batch_max_lines,
                                            within=settings.batch_max_sec):
        await apply(await decode_batch(records, NodeSnapshot))
