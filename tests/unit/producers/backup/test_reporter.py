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

    async def publish(self, topic: str, key: bytes, value: bytes) -> None:
        self.events.append(decode(BackupProgress, value))


def reporter(publisher: Any, interval: float) -> BackupReporter:
    return BackupReporter(publisher, "t.backup", job_id="j", job_type="backup",
                          disks={0: 1000, 1: 1000}, interval=interval)


async def test_updates_are_throttled_and_the_last_numbers_always_go_out() -> None:
    publisher = RecordingPublisher()
    async with reporter(publisher, interval=0.2) as job:
        for step in range(1, 31):
            job.update(0, step * 10)
            job.update(1, step * 5)
            await asyncio.sleep(0.02)  # a copy loop running for ~0.6 s
    assert 2 <= len(publisher.events) <= 6
    last = publisher.events[-1]
    assert [d.bytes_transferred for d in last.disks] == [300, 150]
    seqs = [e.seq for e in publisher.events]
    assert seqs == sorted(set(seqs)), "seq strictly increases"


async def test_phase_change_and_completion_are_sent_at_once() -> None:
    publisher = RecordingPublisher()
    async with reporter(publisher, interval=3600) as job:
        await asyncio.sleep(0.05)
        job.phase("finalizing")
        await asyncio.sleep(0.05)
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
