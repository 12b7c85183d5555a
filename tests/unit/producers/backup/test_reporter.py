"""The reporter: cheap updates, one event per interval at most, phase changes and end at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from producers.backup import BackupReporter, SeqClock
from schemas.backup import BackupProgress
from schemas.event import decode


class RecordingPublisher:
    """Stands in for `Publisher.publish` (the outbox); keeps what the reporter enqueued."""

    def __init__(self) -> None:
        self.events: list[BackupProgress] = []
        self._published = asyncio.Event()

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.events.append(decode(BackupProgress, value))
        self._published.set()

    async def until(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` events were enqueued (an hour's interval: only an immediate send)."""
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._published.clear()
                await self._published.wait()


def reporter(publisher: Any, interval: float) -> BackupReporter:
    return BackupReporter(publisher, "t.backup", job_id="j", job_type="backup",
                          disks={0: 1000, 1: 1000}, interval=interval)


async def test_updates_are_throttled_and_the_last_numbers_always_go_out() -> None:
    publisher = RecordingPublisher()
    loop = asyncio.get_running_loop()
    async with reporter(publisher, interval=0.2) as job:
        started = loop.time()
        for step in range(1, 31):
            job.update(0, step * 10)
            job.update(1, step * 5)
            await asyncio.sleep(0.02)  # a copy loop running for ~0.6 s, giving the sender turns
        elapsed = loop.time() - started
        during = len(publisher.events)
    # The first report at once, then at most one per interval (the bound comes from the time the
    # loop really took, so a loaded machine cannot fail it); 30 updates unthrottled would be 30.
    assert 2 <= during <= elapsed / 0.2 + 1, (during, elapsed)
    assert len(publisher.events) <= during + 1, "closing sends the pending numbers once"
    last = publisher.events[-1]
    assert [d.bytes_transferred for d in last.disks] == [300, 150]
    seqs = [e.seq for e in publisher.events]
    assert seqs == sorted(set(seqs)), "seq strictly increases"


async def test_phase_change_and_completion_are_sent_at_once() -> None:
    publisher = RecordingPublisher()
    async with reporter(publisher, interval=3600) as job:
        await publisher.until(1)  # the first report, at once
        job.phase("finalizing")
        await publisher.until(2)
        assert publisher.events[-1].current_phase == "finalizing"
        job.update(0, 1000)
        job.update(1, 1000)
        job.complete()
    assert publisher.events[-1].status == "completed"
    assert publisher.events[-1].bytes_transferred == 2000


async def test_a_copy_loop_in_another_thread_can_report() -> None:
    publisher = RecordingPublisher()
    async with reporter(publisher, interval=0.05) as job:
        def copy() -> None:
            for step in range(100):
                job.update(0, step)
            job.fail("disk 0 unreadable")
        worker = threading.Thread(target=copy)
        worker.start()
        await asyncio.to_thread(worker.join)
    assert publisher.events[-1].status == "failed"
    assert publisher.events[-1].error == "disk 0 unreadable"


def test_seq_clock_never_repeats_even_when_the_clock_stands_still() -> None:
    clock = SeqClock(lambda: 1_000.0)
    assert [clock.next() for _ in range(3)] == [1_000_000_000, 1_000_000_001, 1_000_000_002]
