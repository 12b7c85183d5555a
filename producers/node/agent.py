"""The node agent's loop: every FLEETSTREAM_NODE_INTERVAL, take a snapshot and enqueue it for Kafka.

Why it exists: this is the producer behind `telemetry.node`. A cycle is one psutil collection on
the agent's own thread (psutil blocks) and one durable outbox put (`Publisher.publish`), so a
cycle never waits on Kafka: while Kafka is away, snapshots wait in the outbox and reach the topic
in order once it is back. Each snapshot carries the outbox's dropped total, so losses (the outbox
drops its oldest rows beyond its bounds) show up downstream as well as in the agent's log.

Cycles are on a fixed grid (start + k * interval): a slow collection does not shift later
snapshots, and missed ticks are skipped rather than bunched up. A collection that fails (psutil
or /proc refusing a read, a figure the schema rejects) costs that one snapshot: it is counted
(`fleetstream_agent_collection_errors_total`), logged, and the next tick tries again.

Each snapshot, once committed to the outbox, is handed to the `listeners` (the live WebSocket
server, `producers.node.live`), which must not block.

What it must not do: compute rates, or block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psutil
from pydantic import ValidationError

from producers.metrics import AgentMetrics
from producers.node.collector import NodeCollector
from producers.publisher import Publisher
from schemas.node import NodeSnapshot

log = logging.getLogger(__name__)


class NodeAgent:
    """Collects snapshots of this node and publishes them to `topic` through `publisher`."""

    def __init__(self, collector: NodeCollector, publisher: Publisher, topic: str,
                 metrics: AgentMetrics | None = None) -> None:
        self.collector = collector
        self.publisher = publisher
        self.topic = topic
        self.metrics = metrics
        self.listeners: list[Callable[[NodeSnapshot], None]] = []
        self.collection_errors = 0
        # One thread: psutil's cpu_percent(interval=None) measures since the previous call.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="node-collect")

    async def collect(self) -> NodeSnapshot:
        """One snapshot, taken on the collector thread."""
        dropped = (await self.publisher.stats()).dropped
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.collector.collect, dropped)

    async def cycle(self) -> NodeSnapshot | None:
        """Collect one snapshot and put it durably in the outbox; None if collection failed."""
        try:
            snapshot = await self.collect()
        except (psutil.Error, OSError, ValidationError) as exc:
            self.collection_errors += 1
            if self.metrics is not None:
                self.metrics.collection_failed()
            log.error("node.collection_failed errors_total=%d error=%r",
                      self.collection_errors, exc)
            return None
        await self.publisher.publish(self.topic, snapshot.node_id.encode(), snapshot.encode())
        if self.metrics is not None:
            self.metrics.published(1, snapshot.ts.timestamp())
        log.debug("node.snapshot_enqueued node_id=%s ts=%s", snapshot.node_id,
                  snapshot.ts.isoformat())
        for listener in self.listeners:
            listener(snapshot)
        return snapshot

    async def run_once(self, timeout: float) -> bool:
        """One snapshot, delivered: True once Kafka acknowledged it (and any backlog)."""
        snapshot = await self.cycle()
        if snapshot is None:
            return False
        delivered = await self.publisher.flush(timeout)
        stats = await self.publisher.stats()
        log.info("node.once node_id=%s ts=%s delivered=%s undelivered=%d dropped_total=%d",
                 snapshot.node_id, snapshot.ts.isoformat(), delivered, stats.depth, stats.dropped)
        return delivered

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Take a snapshot every `interval` seconds until `stop` is set."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        cycles = 0
        while not stop.is_set():
            await self.cycle()
            cycles += 1
            next_at += interval
            now = loop.time()
            if next_at < now:
                skipped = int((now - next_at) // interval) + 1
                log.warning("node.cycles_skipped count=%d interval=%.3fs (collection too slow)",
                            skipped, interval)
                next_at += skipped * interval
            try:
                await asyncio.wait_for(stop.wait(), next_at - now)
            except TimeoutError:
                continue
        stats = await self.publisher.stats()
        log.info("node.stopped cycles=%d undelivered=%d dropped_total=%d",
                 cycles, stats.depth, stats.dropped)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
