"""Every fleetstream topic, declared once with its partition count.

Why it exists: agents, ingest endpoints and the replay command must agree on names and partition
counts (tables are co-partitioned with their source topic). Keys and values are raw bytes here:
agents decode and validate values themselves, so a bad record becomes a dead letter instead of a
crashed stream.
"""

from __future__ import annotations

from datetime import timedelta

import faust

from streams.app import app, settings

# Raw topics are the record the whole state is rebuilt from: keep them forever.
_KEEP_FOREVER = timedelta(days=365 * 100)


def _topic(name: str, *, keep: bool = True) -> faust.TopicT:
    return app.topic(
        settings.topic(name),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
        retention=_KEEP_FOREVER if keep else None,
        # internal: faust declares the topic before subscribing to it; a topic created later
        # (by `declare_all_topics`) is only consumed after a metadata refresh, minutes later.
        internal=True,
    )


node = _topic("node")
vm = _topic("vm")
backup = _topic("backup")
heartbeat = _topic("heartbeat")
alerts = _topic("alerts")
deadletter = _topic("deadletter")
# Derived: the TSDB points of every pipeline, drained by the TSDB pipeline with its own offsets.
# Rebuilt by a replay, so kept as long as the broker default (an outage shorter than that loses
# nothing).
points = _topic("points", keep=False)

ALL = (node, vm, backup, heartbeat, alerts, deadletter, points)


@app.task(on_leader=False)
async def declare_all_topics() -> None:
    """Create every topic at start, including those this worker only produces to."""
    for topic in ALL:
        await topic.maybe_declare()
