"""`BackupReporter`: per-job progress reporting that never blocks the caller's copy loop.

How it behaves:
- `update(disk_index, bytes_transferred)` only records numbers (no I/O, no allocation of events),
  so a copy loop may call it after every block, from the event loop's thread or any other;
- a background task publishes at most one event per `interval` (default 1 s) while numbers
  change, but a phase or status change (`phase`, `complete`, `fail`) is sent at once, and the
  final event is always sent; `close()` waits until it is in the durable outbox;
- every event carries the whole job (all disks), a fresh `event_id`, and a `seq` that is the event
  time in microseconds made strictly increasing (`SeqClock`): a reporter restarted for the same
  job keeps numbering upward, which a per-process counter starting at 1 would not.
What it must not do: wait for Kafka (the `Publisher` owns delivery), or aggregate anything (the
stream workers sum the disks).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from producers.publisher import Publisher
from schemas.backup import BackupProgress, JobStatus, JobType


class SeqClock:
    """Strictly increasing microsecond timestamps: the `seq` of a job's events."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, int(self._clock() * 1_000_000))
        return self._last


def progress_event(
    *, job_id: str, job_type: JobType, status: JobStatus, phase: str, seq: int,
    total_bytes: int, disks: Mapping[int, tuple[int, int | None]], source: str,
    error: str | None = None,
) -> BackupProgress:
    """One `backup.progress/1` event; `disks` maps disk_index -> (bytes_transferred, total)."""
    disk_list: list[dict[str, Any]] = [
        {"disk_index": index, "bytes_transferred": done, "total_bytes": total,
         "status": status if status != "running" else phase}
        for index, (done, total) in sorted(disks.items())
    ]
    return BackupProgress.model_validate({
        "event_id": uuid.uuid4(), "source": source,
        "ts": datetime.fromtimestamp(seq / 1_000_000, UTC),
        "job_id": job_id, "job_type": job_type, "status": status, "current_phase": phase,
        "seq": seq, "total_bytes": total_bytes,
        "bytes_transferred": sum(done for done, _ in disks.values()),
        "error": error, "disks": disk_list,
    })


class BackupReporter:
    """Reports one job's progress to `topic` through `publisher`. Use `async with` or start/close.

    `disks` maps each disk_index to its size in bytes (None when unknown); `total_bytes`
    defaults to their sum.
    """

    def __init__(
        self, publisher: Publisher, topic: str, *, job_id: str, job_type: JobType,
        disks: Mapping[int, int | None], total_bytes: int | None = None,
        source: str = "backup-reporter", interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publisher = publisher
        self._topic = topic
        self._job_id = job_id
        self._job_type: JobType = job_type
        self._source = source
        self._interval = interval
        self._seq = SeqClock(clock)
        self._totals = dict(disks)
        self._bytes = dict.fromkeys(disks, 0)
        self._total_bytes = total_bytes if total_bytes is not None else sum(
            size or 0 for size in disks.values())
        self._status: JobStatus = "running"
        self._phase = "starting"
        self._error: str | None = None
        self._dirty = True
        self._urgent = True  # the first report goes out at once
        self._final = False
        self._closing = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    async def __aenter__(self) -> BackupReporter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"backup-reporter-{self._job_id}")

    def update(self, disk_index: int, bytes_transferred: int) -> None:
        """Record a disk's cumulative bytes; cheap and synchronous (sent by the background)."""
        self._bytes[disk_index] = bytes_transferred
        self._dirty = True

    def phase(self, name: str) -> None:
        """Enter a new phase; reported at once."""
        self._phase = name
        self._signal()

    def complete(self) -> None:
        """The job succeeded; the final event is sent at once."""
        self._end("completed", "completed", None)

    def fail(self, reason: str) -> None:
        """The job failed; the final event (with the reason) is sent at once."""
        self._end("failed", "failed", reason)

    async def close(self) -> None:
        """Send what is pending (the final event included) to the outbox, then stop."""
        self._closing = True
        self._signal()
        if self._task is not None:
            await self._task

    def _end(self, status: JobStatus, phase: str, error: str | None) -> None:
        self._status, self._phase, self._error = status, phase, error
        self._final = True
        self._signal()

    def _signal(self) -> None:
        self._dirty = self._urgent = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._loop is not None
        last_sent = -self._interval
        while not ((self._final or self._closing) and not self._dirty):
            if not self._urgent and not self._closing:
                # update() does not wake us (it must stay cheap), so look again when a send
                # would be due: at once after the interval when numbers changed, else in one.
                due_in = last_sent + self._interval - self._loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(),
                                           timeout=max(due_in, 0.01) if self._dirty
                                           else self._interval)
            self._wake.clear()
            due = self._dirty and self._loop.time() - last_sent >= self._interval
            if self._urgent or due or (self._closing and self._dirty):
                self._urgent = self._dirty = False
                await self._send()
                last_sent = self._loop.time()

    async def _send(self) -> None:
        event = progress_event(
            job_id=self._job_id, job_type=self._job_type, status=self._status,
            phase=self._phase, seq=self._seq.next(), total_bytes=self._total_bytes,
            disks={i: (done, self._totals.get(i)) for i, done in self._bytes.items()},
            source=self._source, error=self._error)
        await self._publisher.publish(self._topic, self._job_id.encode(), event.encode())
        self.sent += 1
