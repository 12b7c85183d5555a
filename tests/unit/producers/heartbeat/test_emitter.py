"""The emitter builds valid heartbeats keyed by worker id, survives a failing tasks callback,
and beats on a fixed grid."""

from __future__ import annotations

import asyncio
import itertools

from producers.heartbeat.emitter import HeartbeatEmitter
from producers.heartbeat.sampling import ResourceSampler, Usage
from schemas.event import decode
from schemas.worker import RunningTask, WorkerHeartbeat


class Recorder:
    """Stands in for the outbox publisher: keeps what it was handed."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.records.append((topic, key, value))


class FixedSampler(ResourceSampler):
    def __init__(self) -> None:
        super().__init__(nvidia_smi=None)

    async def sample(self) -> Usage:
        return Usage(cpu=12.0, memory=34.0, gpu=None)


async def test_a_beat_carries_usage_and_tasks_from_an_async_callback() -> None:
    recorder = Recorder()

    async def tasks() -> list[RunningTask]:
        return [RunningTask(task_id="t1", name="train")]

    emitter = HeartbeatEmitter("w-1", recorder, "telemetry.heartbeat", interval=2, tasks=tasks,
                               sampler=FixedSampler())
    await emitter.beat()
    [(topic, key, value)] = recorder.records
    beat = decode(WorkerHeartbeat, value)
    assert (topic, key) == ("telemetry.heartbeat", b"w-1")
    assert (beat.cpu_usage, beat.memory_usage, beat.gpu_usage) == (12.0, 34.0, None)
    assert [t.task_id for t in beat.running_tasks] == ["t1"] and beat.interval_seconds == 2


async def test_a_failing_tasks_callback_still_beats_without_tasks() -> None:
    recorder = Recorder()

    def broken() -> list[RunningTask]:
        raise RuntimeError("task registry is locked")

    emitter = HeartbeatEmitter("w-1", recorder, "hb", tasks=broken, sampler=FixedSampler())
    beat = await emitter.beat()
    assert beat.running_tasks == [] and len(recorder.records) == 1


async def test_run_beats_every_interval_until_stopped() -> None:
    """Bounds from the time the run really took, so a loaded machine cannot fail it."""
    recorder = Recorder()
    emitter = HeartbeatEmitter("w-1", recorder, "hb", interval=0.1, sampler=FixedSampler())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.55, stop.set)
    started = loop.time()
    sent = await asyncio.wait_for(emitter.run(stop), 30)
    elapsed = loop.time() - started
    assert sent == len(recorder.records)
    # The first beat at once, then one per grid tick (missed ticks are skipped, never caught up).
    assert 2 <= sent <= elapsed / 0.1 + 1, (sent, elapsed)
    stamps = [decode(WorkerHeartbeat, value).ts for _, _, value in recorder.records]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    # Beats follow a grid: one woken late is followed by one on time, so a gap may be shorter
    # than the interval, but never two beats on one tick (that would be well under half of it).
    assert min(gaps) >= 0.05, f"two beats on one tick of the interval: {gaps}"
