"""Live WebSocket streams: a topic read by every worker, fanned out to bounded per-client queues.

Why it exists: a live view must show every key on every worker, but a worker's agents only see
the partitions it owns. So each worker runs its own group-less consumer of the topic from the
latest offset (`feed`) and turns each record into a message (or skips it) with a function the
stream supplies; `LiveHub` fans the messages out. The hub never waits on a client: each client
has a bounded queue, and a client that lets it fill up (too slow, or stalled) is disconnected
with close code 1008 instead of slowing down the feed or the worker.

Used by `WS /ws/telemetry` (streams/web/node.py) and `WS /ws/fleet` (streams/web/fleet.py).
What it must not do: know any domain (records are opaque bytes here), write state or
projections, or commit offsets (it has no consumer group).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from aiohttp import WSCloseCode, WSMsgType
from aiohttp import web as aioweb
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faust.web import Request

from common import kafka
from streams.app import settings

log = logging.getLogger(__name__)

# Messages a live client may have waiting. At one snapshot per node per minute this is minutes of
# slack for hundreds of nodes; a client further behind than this is not keeping up.
CLIENT_QUEUE_SIZE = 256
_CLOSE_TIMEOUT = 5.0
_RETRY_SECONDS = 2.0

# One raw record value -> the message to broadcast, or None to skip the record.
MessageOf = Callable[[bytes], str | None]


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
            self.leave(WSCloseCode.POLICY_VIOLATION, "too slow: live queue overflowed")
            return False
        return True

    def leave(self, code: int, reason: str) -> None:
        if not self.leaving.is_set():
            self.close_code, self.reason = code, reason
            self.leaving.set()


class LiveHub:
    """Fans live messages out to every connected client; never waits on any of them."""

    def __init__(self, name: str, queue_size: int = CLIENT_QUEUE_SIZE) -> None:
        self.name = name
        self.queue_size = queue_size
        self.clients: set[LiveClient] = set()
        self.dropped_total = 0
        self.skipped_total = 0

    def broadcast(self, message: str) -> None:
        for client in list(self.clients):
            if not client.offer(message):
                self.clients.discard(client)
                self.dropped_total += 1
                log.warning("live.client_dropped hub=%s reason=%r clients=%d dropped_total=%d",
                            self.name, client.reason, len(self.clients), self.dropped_total)

    def close_all(self, reason: str) -> None:
        for client in self.clients:
            client.leave(WSCloseCode.GOING_AWAY, reason)

    async def serve(self, ws: aioweb.WebSocketResponse) -> None:
        """Stream to `ws` until the client leaves, is dropped, or the worker stops."""
        client = LiveClient(asyncio.Queue(self.queue_size))
        self.clients.add(client)
        log.info("live.client_joined hub=%s clients=%d", self.name, len(self.clients))
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
                log.info("live.close_timeout hub=%s reason=%r (transport closed)",
                         self.name, client.reason)
            log.info("live.client_left hub=%s clients=%d reason=%r",
                     self.name, len(self.clients), client.reason)

    async def websocket(self, request: Request) -> aioweb.WebSocketResponse:
        """Answer a WebSocket upgrade and stream this hub to it (a view's whole `get`)."""
        ws = aioweb.WebSocketResponse(heartbeat=30.0, timeout=_CLOSE_TIMEOUT)
        await ws.prepare(cast(aioweb.Request, request))
        await self.serve(ws)
        return ws


async def _send(ws: aioweb.WebSocketResponse, client: LiveClient) -> None:
    while True:
        await ws.send_str(await client.queue.get())


async def _read(ws: aioweb.WebSocketResponse) -> None:
    # Clients only listen; reading keeps pings answered and notices when they close.
    async for message in ws:
        if message.type is WSMsgType.ERROR:
            return


async def feed(hub: LiveHub, topic: str, message_of: MessageOf) -> None:
    """Broadcast `message_of(value)` of every new record of `topic`, for as long as it runs."""
    while True:
        # Group-less: every worker reads every partition; new ones are picked up too.
        consumer = AIOKafkaConsumer(
            topic, **kafka.client_kwargs(settings), group_id=None,
            enable_auto_commit=False, auto_offset_reset="latest",
            client_id=f"{settings.app_id}-live-{topic}-{settings.web_port}")
        try:
            await consumer.start()
            log.info("live.feed_started hub=%s topic=%s", hub.name, topic)
            await _broadcast(consumer, hub, message_of)
        except KafkaError as exc:
            log.warning("live.feed_retry hub=%s topic=%s error=%r", hub.name, topic, exc)
            await asyncio.sleep(_RETRY_SECONDS)
        except Exception:
            # A bug must not stop the live views of every worker for good: start over.
            log.exception("live.feed_failed hub=%s topic=%s", hub.name, topic)
            await asyncio.sleep(_RETRY_SECONDS)
        finally:
            await consumer.stop()


async def _broadcast(consumer: AIOKafkaConsumer, hub: LiveHub, message_of: MessageOf) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=1000)
        if not hub.clients:
            # Nobody listens: decoding every record (each job state the changelog carries, on
            # every worker) cost 3-4% of a busy worker's CPU for nothing (py-spy).
            continue
        for records in batches.values():
            for record in records:
                try:
                    message = message_of(record.value)
                except Exception as exc:
                    # Hostile or unforeseen input on a raw topic: skip the record, keep feeding.
                    hub.skipped_total += 1
                    log.warning("live.record_skipped hub=%s topic=%s partition=%d offset=%d "
                                "error=%s", hub.name, record.topic, record.partition,
                                record.offset, f"{type(exc).__name__}: {exc}"[:300])
                    continue
                if message is not None:
                    hub.broadcast(message)


async def keep_fed(hub: LiveHub, *sources: tuple[str, MessageOf]) -> None:
    """Feed `hub` from every (topic, message_of) source until the worker stops, then let its
    clients go (a worker task's whole body)."""
    try:
        async with asyncio.TaskGroup() as group:  # one feed failing stops them all
            for topic, message_of in sources:
                group.create_task(feed(hub, topic, message_of))
    finally:
        hub.close_all("worker stopping")
