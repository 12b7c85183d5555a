"""`HeartbeatEmitter`: builds `worker.heartbeat/1` events and hands them to the outbox publisher.

Why it exists: a worker process embeds it to beat every `interval` seconds with its own running
tasks (from a callback, sync or async). Beats are scheduled on a fixed grid (no drift from the
time sampling takes) and a beat that overran its slot is not made up for: a heartbeat says "alive
now", a burst of late ones says nothing more.
What it must not do: wait for Kafka (the publisher's outbox takes the event), or stop beating
because the tasks callback failed (that beat goes out without tasks, and the error is logged).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from producers.heartbeat.sampling import ResourceSampler
from schemas.event import now_utc
from schemas.worker import RunningTask, WorkerHeartbeat

log = logging.getLogger(__name__)

TasksCallback = Callable[[], Sequence[RunningTask] | Awaitable[Sequence[RunningTask]]]


class Publishing(Protocol):
    """What the emitter needs of `producers.publisher.Publisher`."""

    async def publish(self, topic: str, key: bytes, value: bytes) -> None: ...


def _no_tasks() -> Sequence[RunningTask]:
    return ()


class HeartbeatEmitter:
    """Publishes heartbeats of one worker to `topic` (the full topic name)."""

    def __init__(
        self,
        worker_id: str,
        publisher: Publishing,
        topic: str,
        *,
        interval: float = 5.0,
        tasks: TasksCallback = _no_tasks,
        sampler: ResourceSampler | None = None,
        source: str | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("the heartbeat interval must be a positive number of seconds")
        self.worker_id = worker_id
        self.interval = interval
        self._publisher = publisher
        self._topic = topic
        self._tasks = tasks
        self._sampler = sampler or ResourceSampler()
        self._source = source or f"heartbeat@{socket.gethostname()}"

    async def _running_tasks(self) -> list[RunningTask]:
        try:
            result = self._tasks()
            tasks = await result if inspect.isawaitable(result) else result
            return list(tasks)
        except Exception:  # the worker's callback: any failure of it must not stop the beat
            log.exception("heartbeat.tasks_failed worker_id=%s", self.worker_id)
            return []

    async def beat(self) -> WorkerHeartbeat:
        """Sample, build and enqueue one heartbeat; returns it."""
        usage, tasks = await asyncio.gather(self._sampler.sample(), self._running_tasks())
        heartbeat = WorkerHeartbeat(
            event_id=uuid.uuid4(), source=self._source, ts=now_utc(), worker_id=self.worker_id,
            cpu_usage=usage.cpu, memory_usage=usage.memory, gpu_usage=usage.gpu,
            running_tasks=tasks, interval_seconds=self.interval)
        await self._publisher.publish(self._topic, self.worker_id.encode(), heartbeat.encode())
        log.debug("heartbeat.sent worker_id=%s cpu=%.1f memory=%.1f gpu=%s tasks=%d",
                  self.worker_id, usage.cpu, usage.memory, usage.gpu, len(tasks))
        return heartbeat

    async def run(self, stop: asyncio.Event) -> int:
        """Beat every `interval` seconds until `stop` is set; returns how many beats were sent."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        sent = 0
        while not stop.is_set():
            await self.beat()
            sent += 1
            now = loop.time()
            next_at += self.interval
            if next_at < now:
                next_at = now + self.interval - (now - next_at) % self.interval
            try:
                await asyncio.wait_for(stop.wait(), next_at - now)
            except TimeoutError:
                continue
        return sent
