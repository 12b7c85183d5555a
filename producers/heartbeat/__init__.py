"""Heartbeat emitter for compute workers (seed 004): resource usage and running tasks, every 5 s.

Why it exists: a worker process embeds `HeartbeatEmitter` (its running tasks come from a callback)
or runs `fleetstream heartbeat`; either way heartbeats go through the shared durable outbox
(`producers.publisher.Publisher`) to `telemetry.heartbeat`, keyed by worker_id, so a Kafka outage
delays them instead of losing them and never blocks the worker.
"""

from producers.heartbeat.emitter import HeartbeatEmitter, TasksCallback
from producers.heartbeat.sampling import ResourceSampler, Usage

__all__ = ["HeartbeatEmitter", "ResourceSampler", "TasksCallback", "Usage"]
