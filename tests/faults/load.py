"""The load the fault tests run under, the exact results it must leave, and the figures they print.

Why it exists: every fault test needs the same things: backup reports whose final rows are known
in advance (worked out here, not by the fold under test), node snapshots whose history rows are
known, live heartbeats, a reader that watches rows while the fault happens, and a worker's memory.
`LONG` (FLEETSTREAM_FAULTS_LONG=1, `make faults`) selects the long variants; the defaults stay
short enough for `make test`.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from producers.backup import progress_event
from schemas.backup import JobStatus
from schemas.worker import WorkerHeartbeat
from tests.integration.helpers import AppEnv
from tests.integration.test_poison import encoded, snapshot

LONG = os.environ.get("FLEETSTREAM_FAULTS_LONG", "") == "1"
DISKS = 4


def figures(fault: str, **values: object) -> None:
    """Print a test's measured figures on one line (`make faults` runs pytest with -s)."""
    shown = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())
    print(f"\nFIGURES {fault}: {shown}", flush=True)


def disk_size(disk: int) -> int:
    return 1000 + disk


@dataclass(frozen=True)
class BackupLoad:
    """`jobs` jobs of `DISKS` disks, reported in `rounds` rounds; the last round completes them.

    Round r of job j: event time and seq `start_us + r * pace + j` µs, disk d at
    (r + 1) * (1000 + d) bytes of rounds * (1000 + d).
    """

    prefix: str
    jobs: int
    rounds: int
    start_us: int
    pace_us: int

    def job_id(self, j: int) -> str:
        return f"{self.prefix}{j:05d}"

    def seq(self, r: int, j: int) -> int:
        return self.start_us + r * self.pace_us + j

    def round(self, r: int) -> list[tuple[bytes, bytes]]:
        status: JobStatus = "completed" if r == self.rounds - 1 else "running"
        return [(self.job_id(j).encode(), progress_event(
            job_id=self.job_id(j), job_type="backup", status=status, phase="transferring",
            seq=self.seq(r, j), total_bytes=self.total,
            disks={d: ((r + 1) * disk_size(d), self.rounds * disk_size(d)) for d in range(DISKS)},
            source="faults").encode()) for j in range(self.jobs)]

    @property
    def total(self) -> int:
        return self.rounds * sum(disk_size(d) for d in range(DISKS))

    def expected(self, j: int) -> dict[str, Any]:
        return {"job_id": self.job_id(j), "bytes_transferred": self.total,
                "total_bytes": self.total, "progress_percent": 100.0, "status": "completed",
                "last_seq": self.seq(self.rounds - 1, j)}


def backup_load(jobs: int, rounds: int, pace: float) -> BackupLoad:
    now_us = int(time.time()) * 1_000_000
    return BackupLoad(f"fj-{uuid.uuid4().hex[:6]}-", jobs, rounds, now_us, int(pace * 1e6))


async def job_rows(app_env: AppEnv, load: BackupLoad) -> dict[str, dict[str, Any]]:
    found = await app_env.rows(
        "SELECT job_id, bytes_transferred, total_bytes, progress_percent, status, last_seq "
        "FROM backup_jobs WHERE job_id LIKE $1", f"{load.prefix}%")
    return {r["job_id"]: dict(r) for r in found}


async def mismatched_jobs(app_env: AppEnv, load: BackupLoad) -> list[str]:
    """Jobs whose row is missing or differs from the expected final row."""
    rows = await job_rows(app_env, load)
    return [load.job_id(j) for j in range(load.jobs)
            if rows.get(load.job_id(j)) != load.expected(j)]


async def disk_mismatches(app_env: AppEnv, load: BackupLoad) -> int:
    found = await app_env.rows(
        "SELECT count(*) AS n FROM backup_disks WHERE job_id LIKE $1 AND bytes_transferred = "
        "$2 * (1000 + disk_index)", f"{load.prefix}%", load.rounds)
    return load.jobs * DISKS - int(found[0]["n"]) if found else load.jobs * DISKS


@dataclass(frozen=True)
class NodeLoad:
    """`nodes` nodes, one snapshot a second of event time from `start`."""

    nodes: list[str]
    start: datetime

    def snapshot(self, node: str, i: int) -> tuple[bytes, bytes]:
        ts = (self.start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        return node.encode(), encoded(snapshot(node, ts=ts, process_count=i))

    def times(self, count: int) -> list[datetime]:
        return [self.start + timedelta(seconds=i) for i in range(count)]


def node_load(nodes: int) -> NodeLoad:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return NodeLoad([f"fn-{uuid.uuid4().hex[:6]}-{n}" for n in range(nodes)], start)


async def history_faults(app_env: AppEnv, load: NodeLoad, sent: int) -> dict[str, int]:
    """Per node: snapshots missing from `telemetry_history` and rows not sent (the history's
    primary key is (node_id, timestamp), so a duplicate shows as a row count above `sent`)."""
    expected = set(load.times(sent))
    problems: dict[str, int] = {}
    for node in load.nodes:
        found = await app_env.rows("SELECT timestamp FROM telemetry_history WHERE node_id = $1",
                                   node)
        stamps = [r["timestamp"] for r in found]
        lost, extra = len(expected - set(stamps)), len(stamps) - len(set(stamps) & expected)
        if lost or extra:
            problems[node] = lost + extra
    return problems


def heartbeat(worker_id: str) -> tuple[bytes, bytes]:
    beat = WorkerHeartbeat(event_id=uuid.uuid4(), source="faults", ts=datetime.now(UTC),
                           worker_id=worker_id, cpu_usage=5.0, memory_usage=10.0)
    return worker_id.encode(), beat.encode()


class Producer:
    """One Kafka producer for a test's whole load (acks=all)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                          linger_ms=20)

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        futures = [await self._producer.send(topic, key=k, value=v) for k, v in items]
        await asyncio.gather(*futures)


@dataclass
class RegressionReader:
    """Polls `backup_jobs` while a fault happens: a job's bytes must never go down."""

    app_env: AppEnv
    load: BackupLoad
    highest: dict[str, int] = field(default_factory=dict)
    regressions: list[tuple[str, int, int]] = field(default_factory=list)
    polls: int = 0

    async def run(self, every: float = 0.3) -> None:
        while True:
            for job_id, row in (await job_rows(self.app_env, self.load)).items():
                seen = self.highest.get(job_id, -1)
                if row["bytes_transferred"] < seen:
                    self.regressions.append((job_id, seen, row["bytes_transferred"]))
                self.highest[job_id] = max(seen, row["bytes_transferred"])
            self.polls += 1
            await asyncio.sleep(every)


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the worker may run under a launcher)."""
    total = 0
    for proc in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found]


@dataclass
class RssSampler:
    """Samples a process's RSS every second while a fault happens."""

    pid: int
    samples: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            self.samples.append(rss_mib(self.pid))
            await asyncio.sleep(1.0)
