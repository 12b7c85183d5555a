"""A simulated backup client for `make demo`: real reporter, real outbox, made-up disk copies.

Why it exists: the demo has no backup software to watch, so this runs job after job through
`BackupReporter` exactly as a backup client would: disks copy at a steady simulated speed, the
phases change, jobs complete. Every third job goes silent halfway, so the stale and stalled alerts
show too. It writes nothing but telemetry.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools

from common.process import load_settings, stop_on_signals
from common.settings import BACKUP_REPORT
from producers.backup.reporter import BackupReporter
from producers.publisher import Publisher

GIB = 2**30


async def copy_job(publisher: Publisher, topic: str, job_id: str, disks: int, total: int,
                   speed: int, silent_at: float | None) -> None:
    """Copy `disks` disks of `total` bytes in all at `speed` bytes/s; stop reporting at
    fraction `silent_at` of the job when given (a hung client)."""
    size = total // disks
    reporter = BackupReporter(publisher, topic, job_id=job_id, job_type="backup",
                              disks=dict.fromkeys(range(disks), size), source="demo-simulator")
    await reporter.start()
    reporter.phase("transferring")
    done = 0
    while done < total:
        await asyncio.sleep(0.5)
        done = min(total, done + speed // 2)
        for index in range(disks):
            reporter.update(index, min(size, max(0, done - index * size)))
        if silent_at is not None and done >= silent_at * total:
            await reporter.close()
            return
    reporter.complete()
    await reporter.close()


async def run(job_prefix: str, disks: int, total_bytes: int) -> None:
    settings = load_settings(BACKUP_REPORT)
    publisher = Publisher("backup-simulator", settings)
    await publisher.start()
    stop = stop_on_signals()
    try:
        for number in itertools.count(1):
            job = copy_job(publisher, settings.topic("backup"), f"{job_prefix}-{number}",
                           disks, total_bytes, speed=GIB,
                           silent_at=0.5 if number % 3 == 0 else None)
            task = asyncio.create_task(job)
            await asyncio.wait({task, asyncio.create_task(stop.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
            if stop.is_set():
                return
    finally:
        await publisher.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job-id", default="demo-backup", help="job id prefix")
    parser.add_argument("--disks", type=int, default=2)
    parser.add_argument("--total-bytes", type=int, default=40 * GIB)
    args = parser.parse_args()
    asyncio.run(run(args.job_id, args.disks, args.total_bytes))


if __name__ == "__main__":
    main()
