"""The node agent's loop: every FLEETSTREAM_NODE_INTERVAL, take a snapshot and enqueue it for Kafka.

Why it exists: this is the producer behind `telemetry.node`. A cycle is one psutil collection on
the agent's own thread (psutil blocks) and one durable outbox put (`Publisher.publish`), so a
cycle never waits on Kafka: while Kafka is away, snapshots wait in the outbox and reach the topic
in order once it is back. Each snapshot carries the outbox's dropped total, so losses (the outbox
drops its oldest rows beyond its bounds) show up downstream as well as in the agent's log.

Cycles are on a fixed grid (start + k * interval): a slow collection does not shift later
snapshots, and missed ticks are skipped rather than bunched up.

What it must not do: compute rates, or block the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from producers.node.collector import NodeCollector
from producers.publisher import Publisher
from schemas.node import NodeSnapshot

log = logging.getLogger(__name__)


class NodeAgent:
    """Collects snapshots of this node and publishes them to `topic` through `publisher`."""

    def __init__(self, collector: NodeCollector, publisher: Publisher, topic: str) -> None:
        self.collector = collector
        self.publisher = publisher
        self.topic = topic
        # One thread: psutil's cpu_percent(interval=None) measures since the previous call.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="node-collect")

    async def collect(self) -> NodeSnapshot:
        """One snapshot, taken on the collector thread."""
        dropped = (await self.publisher.stats()).dropped
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.collector.collect, dropped)

    async def cycle(self) -> NodeSnapshot:
        """Collect one snapshot and put it durably in the outbox."""
        snapshot = await self.collect()
        await self.publisher.publish(self.topic, snapshot.node_id.encode(), snapshot.encode())
        log.debug("node.snapshot_enqueued node_id=%s ts=%s", snapshot.node_id,
                  snapshot.ts.isoformat())
        return snapshot

    async def run_once(self, timeout: float) -> bool:
        """One snapshot, delivered: True once Kafka acknowledged it (and any backlog)."""
        snapshot = await self.cycle()
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
