"""Node snapshots: `telemetry.node` -> latest state per node -> history rows and `node` points.

Why it exists: it hands the runtime (`streams.pipeline`) the node domain: each snapshot advances
the node's state (`streams.domain.node.advance`: network rates, duplicates, out-of-order), every
snapshot becomes a history row and a point (`streams.projections.node`), the sweep raises one
`node.silent` alert for a node silent for FLEETSTREAM_NODE_SILENT_SECONDS (its next fresh
snapshot clears it: `streams.domain.node.sweep` / `fold`), and a node silent for longer than
its retention (`FLEETSTREAM_RETENTION_SECONDS` nodes=...) leaves the table. Every snapshot
also lands in the node's event-time window rollups (`streams.domain.rollups`).
A snapshot's row depends on the state before it; the runtime stores states only after the rows
are durable, so a re-delivered batch recomputes the same rows (the sinks then skip them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas.event import decode, epoch_micros
from schemas.node import NodeSnapshot
from streams import tables, topics
from streams.app import settings
from streams.domain import node, rollups, windows
from streams.domain.node import NodeState
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import points, postgres, register
from streams.projections import node as projection
from streams.projections.points import SINK as POINTS


class Nodes(Domain[NodeSnapshot]):
    """Node snapshots folded into the latest state per node, keyed by node_id."""

    name = "node"

    def __init__(self, silent_after_s: float, retention_s: float) -> None:
        self.silent_after_s = silent_after_s
        self.retention_us = round(retention_s * 1_000_000)

    def decode(self, record: Record, latest: datetime) -> NodeSnapshot:
        return decode(NodeSnapshot, record.value or b"", latest=latest)

    def key(self, event: NodeSnapshot) -> str:
        return event.node_id

    def event_us(self, event: NodeSnapshot) -> int:
        return epoch_micros(event.ts)

    def fold(self, key: str, before: State | None, events: Sequence[NodeSnapshot],
             now_us: int) -> Step:
        current = None if before is None else NodeState.from_value(before)
        folded = node.fold(current, events, now_us, self.silent_after_s)
        state = None if folded.state is None else folded.state.to_value()
        state, rollup = windows.fold_windows(
            before, state, ((epoch_micros(snapshot.ts), rollups.node_sample(snapshot, rates))
                            for snapshot, rates in folded.emitted), rollups.NODE)
        return Step(state, folded.alerts, emitted=folded.emitted, windows=rollup)

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        point = projection.points(key, step.emitted)
        return {"postgres": [projection.history_row(s, r) for s, r in step.emitted],
                POINTS: [point] if point else []}

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        current = NodeState.from_value(state)
        if now_us - epoch_micros(current.snapshot.ts) >= self.retention_us:
            return Step(delete=True)
        swept = node.sweep(current, now_us, self.silent_after_s)
        if swept is None:
            return None
        # The node's rebuilt value has no window fields: without them its rollups would vanish.
        return Step(windows.carry(state, swept[0].to_value()), [swept[1]])

    def sweep_due_us(self, state: State) -> int:
        return node.sweep_due_us(state, self.silent_after_s, self.retention_us)


pipeline = register(Nodes(settings.node_silent_seconds, settings.retention_seconds["nodes"]),
                    topics.node, tables.nodes, [postgres(), points()],
                    sweep_quiet_s=settings.node_silent_seconds)
