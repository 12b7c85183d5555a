"""A broker outage under three node agents (1 s interval) and a backup reporter.

The test's own broker is stopped while the agents keep collecting into their outboxes, and started
again. Every snapshot and report then lands exactly once: on the topic a record may repeat only
with the same event_id (a resend), `telemetry_history` has exactly one row per snapshot and the
job's row is its last report. The outboxes stay within their bounds and drop nothing; the drain
rate after the broker returns is measured. Short variant: 30 s outage; long: 6 minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from common.settings import BACKUP_REPORT, Settings
from fleetstream.stack.services import Kafka
from producers.backup import BackupReporter
from producers.outbox import read_stats
from producers.publisher import Publisher
from tests.faults.load import LONG, figures
from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, unique, wait_for

OUTAGE_SECONDS = 360 if LONG else 30
BEFORE_SECONDS, AFTER_SECONDS = 5, 3
AGENTS = 3
MAX_EVENTS = 5000  # above an outage's backlog (3 agents x 360 s + the reporter)


def outbox_depths(data_dirs: list[Path]) -> list[tuple[int, int, int]]:
    """(events, bytes, dropped) of every outbox under the given data dirs."""
    found = []
    for data_dir in data_dirs:
        for path in sorted((data_dir / "outbox").glob("*.sqlite3")):
            stats = read_stats(path)
            found.append((stats.depth, stats.bytes, stats.dropped))
    return found


class Sampler:
    """Samples the outboxes every 0.5 s: the largest backlog, bytes and drops seen."""

    def __init__(self, data_dirs: list[Path]) -> None:
        self.data_dirs = data_dirs
        self.max_events = self.max_bytes = self.dropped = self.last_events = 0

    async def run(self) -> None:
        while True:
            found = await asyncio.to_thread(outbox_depths, self.data_dirs)
            self.last_events = sum(f[0] for f in found)
            self.max_events = max(self.max_events, max((f[0] for f in found), default=0))
            self.max_bytes = max(self.max_bytes, max((f[1] for f in found), default=0))
            self.dropped = max(self.dropped, sum(f[2] for f in found))
            await asyncio.sleep(0.5)


async def _reporting(reporter: BackupReporter, stop: asyncio.Event) -> int:
    done = 0
    while not stop.is_set():
        done += 1_000_000
        reporter.update(0, done)
        await asyncio.sleep(0.5)
    reporter.complete()
    return done


def _by_event_id(values: list[bytes]) -> tuple[dict[str, dict[str, Any]], int]:
    """Distinct events by event_id, and how many records repeated one (resends)."""
    events: dict[str, dict[str, Any]] = {}
    counts: Counter[str] = Counter()
    for value in values:
        body = json.loads(value)
        counts[body["event_id"]] += 1
        events[body["event_id"]] = body
    return events, sum(n - 1 for n in counts.values())


def start_agents(app_env: AppEnv, nodes: list[str], data_dirs: list[Path],
                 extra: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """One `fleetstream node-agent --interval 1` per node, each with its own data dir (outbox)."""
    agents = []
    for node, data_dir in zip(nodes, data_dirs, strict=False):
        log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
        agents.append(subprocess.Popen(
            [FLEETSTREAM, "node-agent", "--interval", "1"], cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, env={**app_env.env, **extra, "FLEETSTREAM_NODE_ID": node,
                                           "FLEETSTREAM_DATA_DIR": str(data_dir)}))
    return agents


@dataclass
class Outage:
    """What the outage left in the outboxes and how they drained once the broker was back."""

    broker_restart_s: float
    backlog: int
    reconnect_s: float
    drain_s: float


async def broker_outage(kafka: Kafka, data_dirs: list[Path], sampler: Sampler) -> Outage:
    """Stop the broker for OUTAGE_SECONDS, start it, wait until the outboxes are empty."""
    kafka.stop()
    down_at = time.monotonic()
    await asyncio.sleep(OUTAGE_SECONDS)
    backlog = sampler.last_events
    kafka.start()
    up_at = time.monotonic()
    first_delivery: float | None = None

    async def drained() -> bool:
        nonlocal first_delivery
        left = sum(f[0] for f in await asyncio.to_thread(outbox_depths, data_dirs))
        if first_delivery is None and left < backlog:
            first_delivery = time.monotonic()
        return left <= AGENTS  # the snapshot of this second may be on its way

    await wait_for(drained, 120, 0.2, what="the outboxes to drain")
    done = time.monotonic()
    reconnect = (first_delivery or done) - up_at
    return Outage(up_at - down_at - OUTAGE_SECONDS, backlog, reconnect, done - up_at - reconnect)


async def assert_every_snapshot_once(app_env: AppEnv, nodes: list[str]) -> tuple[int, int, int]:
    """Distinct snapshots on the topic, their records, and the history rows matching them."""
    records = await app_env.consume_records(app_env.topic("node"), expect=10**9, timeout=5)
    snapshots, _ = _by_event_id([r.value for r in records])
    per_node: dict[str, list[datetime]] = defaultdict(list)
    for body in snapshots.values():
        per_node[body["node_id"]].append(datetime.fromisoformat(body["ts"]))
    run_seconds = BEFORE_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS
    for node in nodes:
        stamps = sorted(per_node[node])
        assert len(stamps) >= 0.8 * run_seconds, f"{node}: too few snapshots {len(stamps)}"
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
        assert max(gaps) < 3, f"{node}: a gap of {max(gaps):.1f}s in its snapshots"

    async def history_exact() -> bool:
        for node in nodes:
            found = await app_env.rows("SELECT timestamp FROM telemetry_history "
                                       "WHERE node_id = $1", node)
            if sorted(r["timestamp"] for r in found) != sorted(per_node[node]):
                return False
        return True

    await wait_for(history_exact, 120, 1.0, what="one history row per snapshot on the topic")
    rows = await app_env.rows("SELECT count(*) AS n FROM telemetry_history")
    return len(snapshots), len(records), int(rows[0]["n"])


async def assert_job_exact(app_env: AppEnv, job_id: str, final_bytes: int) -> tuple[int, int]:
    """The job's row is its last report; (distinct reports, their records on the topic)."""
    records = await app_env.consume_records(app_env.topic("backup"), 10**9, 4)
    reports, _ = _by_event_id([r.value for r in records])
    last = max(reports.values(), key=lambda body: body["seq"])
    assert last["status"] == "completed" and last["bytes_transferred"] == final_bytes

    async def job_exact() -> bool:
        found = await app_env.rows("SELECT status, bytes_transferred, last_seq FROM backup_jobs "
                                   "WHERE job_id = $1", job_id)
        return bool(found) and dict(found[0]) == {
            "status": "completed", "bytes_transferred": final_bytes, "last_seq": last["seq"]}

    await wait_for(job_exact, 60, what="the job's row at its last report")
    return len(reports), len(records)


async def test_a_broker_outage_delivers_every_snapshot_and_report_exactly_once(
    private_kafka: Kafka, app_env: AppEnv, tmp_path: Path,
) -> None:
    # private_kafka first: see the fixture.
    app_env.env.update(private_kafka.env())
    await app_env.start_worker()
    nodes = [unique("fnode-") for _ in range(AGENTS)]
    data_dirs = [tmp_path / f"agent-{i}" for i in range(AGENTS)] + [tmp_path / "reporter"]
    extra = {"FLEETSTREAM_NODE_WS_PORT": "0", "FLEETSTREAM_OUTBOX_MAX_EVENTS": str(MAX_EVENTS)}
    agents = start_agents(app_env, nodes, data_dirs, extra)
    settings = Settings.load({**app_env.env, **extra, "FLEETSTREAM_DATA_DIR": str(data_dirs[-1])},
                             dotenv=None, process=BACKUP_REPORT)
    publisher = Publisher("faults-backup", settings)
    await publisher.start()
    job_id = unique("fjob-")
    reporter = BackupReporter(publisher, settings.topic("backup"), job_id=job_id,
                              job_type="backup", disks={0: 10**12}, interval=1.0)
    await reporter.start()
    sampler, stop_reporting = Sampler(data_dirs), asyncio.Event()
    sampling = asyncio.create_task(sampler.run())
    reporting = asyncio.create_task(_reporting(reporter, stop_reporting))
    try:
        await asyncio.sleep(BEFORE_SECONDS)
        outage = await broker_outage(private_kafka, data_dirs, sampler)
        await asyncio.sleep(AFTER_SECONDS)
    finally:
        stop_reporting.set()
        final_bytes = await reporting
        await reporter.close()
        await publisher.stop(flush_timeout=30)
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
        for agent in agents:
            await asyncio.to_thread(agent.wait, 30)
        sampling.cancel()
    assert [agent.returncode for agent in agents] == [0] * AGENTS
    assert sampler.dropped == 0, "an outbox dropped events"
    assert sampler.max_events <= MAX_EVENTS
    assert sampler.max_bytes <= settings.outbox_max_bytes
    snapshots, snapshot_records, history_rows = await assert_every_snapshot_once(app_env, nodes)
    reports, report_records = await assert_job_exact(app_env, job_id, final_bytes)
    assert await app_env.consume_json("deadletter", expect=1, timeout=3) == []
    figures("broker outage" + ("" if LONG else " (short variant)"),
            outage_s=float(OUTAGE_SECONDS), broker_restart_s=outage.broker_restart_s,
            snapshots=snapshots, snapshot_records=snapshot_records, history_rows=history_rows,
            reports=reports, report_records=report_records, lost=0, duplicated_rows=0,
            backlog_at_restart=outage.backlog, max_outbox_events=sampler.max_events,
            max_outbox_bytes=sampler.max_bytes, dropped=sampler.dropped,
            reconnect_s=outage.reconnect_s, drain_s=outage.drain_s,
            drain_rate_per_s=outage.backlog / outage.drain_s if outage.drain_s else 0.0)
