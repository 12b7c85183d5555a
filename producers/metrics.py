"""A producer process's own health as Prometheus metrics: what it collected, how fast it queued it,
what waits in its outbox and what it lost.

Why it exists: an operator scrapes every agent the way they scrape node_exporter, and every
producer (node and VM agents, and as well the heartbeat emitter and backup simulator) reports the
same names, so one dashboard and one alert rule cover them all:

    fleetstream_agent_snapshots_total{agent}            counter: snapshots put in the outbox
    fleetstream_agent_publish_seconds{agent}            histogram: snapshot taken -> outbox commit
    fleetstream_agent_collection_errors_total{agent}    counter: collections that failed
    fleetstream_outbox_events{outbox}                   gauge: events waiting for Kafka
    fleetstream_outbox_bytes{outbox}                    gauge: their payload bytes
    fleetstream_outbox_oldest_age_seconds{outbox}       gauge: age of the oldest (0 when empty)
    fleetstream_outbox_dropped_total{outbox}            gauge: events dropped by the outbox's
                                                        bounds, persisted across restarts

Each `AgentMetrics` has its own `CollectorRegistry` (never the global one), so several agents, or
tests, live in one process. The outbox gauges are read from the publisher's `stats()` at scrape
time, not kept up to date on every put.

What it must not do: serve HTTP (each agent's own server calls `exposition()`), or import aiohttp.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# From a fast local SQLite commit (ms) to a collection that took most of a 60 s interval.
PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0)


class OutboxFigures(Protocol):
    """What the metrics read of an outbox (`producers.publisher.PublisherStats` has it)."""

    @property
    def depth(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def oldest_enqueued_at(self) -> float | None: ...


class AgentMetrics:
    """The metrics of one producer `agent` publishing through the outbox named `outbox`."""

    def __init__(self, agent: str, outbox: str,
                 outbox_stats: Callable[[], Awaitable[OutboxFigures]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._outbox_stats = outbox_stats
        self._snapshots = Counter(
            "fleetstream_agent_snapshots", "Snapshots the agent put in its outbox.",
            ["agent"], registry=self.registry).labels(agent)
        self._publish = Histogram(
            "fleetstream_agent_publish_seconds",
            "Seconds from taking a snapshot to its commit in the outbox.",
            ["agent"], buckets=PUBLISH_BUCKETS, registry=self.registry).labels(agent)
        self._errors = Counter(
            "fleetstream_agent_collection_errors",
            "Collections that failed (the source could not be read, or gave invalid figures).",
            ["agent"], registry=self.registry).labels(agent)
        self._events = Gauge("fleetstream_outbox_events", "Events in the outbox waiting for Kafka.",
                             ["outbox"], registry=self.registry).labels(outbox)
        self._bytes = Gauge("fleetstream_outbox_bytes", "Payload bytes in the outbox.",
                            ["outbox"], registry=self.registry).labels(outbox)
        self._oldest_age = Gauge(
            "fleetstream_outbox_oldest_age_seconds",
            "Age of the oldest event waiting in the outbox; 0 when it is empty.",
            ["outbox"], registry=self.registry).labels(outbox)
        self._dropped = Gauge(
            "fleetstream_outbox_dropped_total",
            "Events the outbox dropped (oldest first) to stay within its bounds, since its file "
            "was created.", ["outbox"], registry=self.registry).labels(outbox)

    def published(self, count: int, taken_at: float) -> None:
        """`count` snapshots taken at wall-clock `taken_at` were committed to the outbox now."""
        self._snapshots.inc(count)
        self._publish.observe(max(0.0, time.time() - taken_at))

    def collection_failed(self, count: int = 1) -> None:
        self._errors.inc(count)

    async def exposition(self) -> tuple[bytes, str]:
        """The current metrics in Prometheus text format, and its Content-Type."""
        stats = await self._outbox_stats()
        self._events.set(stats.depth)
        self._bytes.set(stats.bytes)
        self._dropped.set(stats.dropped)
        oldest = stats.oldest_enqueued_at
        self._oldest_age.set(0.0 if oldest is None else max(0.0, time.time() - oldest))
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
