"""A network partition of one of two workers, longer than its session, then healed.

Not a stopped process: worker B runs in a network namespace of the test's own
(`tests.faults.netns`) and reaches the broker, PostgreSQL, the TSDB and worker A only across a
wire; the test drops every frame on it for longer than the 10 s session while backup
reports, node snapshots and heartbeats flow, then lets them through again. B keeps running all
along and cannot tell it was cut off.

What must hold: A takes B's partitions over (timed from the cut to its first write of one of B's
keys, and to its owning every partition); after the heal B rejoins and the partitions are shared
again; no job's bytes ever go down in PostgreSQL (a reader polls them throughout), also when
writes B held during the cut land after the heal; a view on either worker answers 200 only with
the key's current value (a 503 or a timeout is honest; a 200 more than 5 rounds behind what
PostgreSQL already holds, or a 404 for a key past its first report, is wrong); at the end every
job, disk and history row is exact, both workers answer every key with its owner's exact body,
and the alerts are exactly one `worker.inactive` per heartbeating worker silenced at the end:
nothing stale or inactive raised for keys whose reports kept flowing to the other worker.

What B itself answers while cut off (asked through a filesystem socket into its namespace) is
measured and printed, not asserted: it cannot know for sure that it lost its partitions (it
answers 503 once it has not heard from its group for half a session).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.faults.load import (
    LONG,
    BackupLoad,
    NodeLoad,
    Producer,
    RegressionReader,
    backup_load,
    disk_mismatches,
    figures,
    heartbeat,
    history_faults,
    job_rows,
    mismatched_jobs,
    node_load,
)
from tests.faults.netns import Partition
from tests.faults.test_worker_kill import PARTITIONS, owned_partitions, partition
from tests.faults.test_worker_kill import WORKER_ENV as KILL_ENV
from tests.integration.helpers import AppEnv, WorkerProcess, free_port, unique, wait_for

JOBS, ROUNDS, CUT_S = (200, 130, 60.0) if LONG else (100, 55, 22.0)
NODES, GPUS, PACE = 10, 6, 1.0
ROUNDS_BEFORE_CUT = 5
STALE_ROUNDS = 5  # a view answer further behind PostgreSQL's row than this is a wrong one
ALL = set(range(PARTITIONS))
# Inactivity (8 s) within the cut: a worker sweeping keys whose heartbeats go elsewhere would
# raise it; staleness (30 s) within the long cut only. An 8 s staleness also raised 100-240
# backup.stale in the moments after the heal's rebalance, from both workers (the sweeps of a
# partition just assigned, docs/reliability.md "Known faults" 1), which is not this test's fault.
WORKER_ENV = {**KILL_ENV, "FLEETSTREAM_STALE_AFTER_SECONDS": "30",
              "FLEETSTREAM_STALLED_AFTER_SECONDS": "86400",
              "BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
READY_TIMEOUT = 120.0
SETTLE_TIMEOUT = 180.0
ASK_TIMEOUT = aiohttp.ClientTimeout(total=5)


def server_ports(env: Mapping[str, str]) -> set[int]:
    """The ports of the broker, PostgreSQL and TSDB a worker with `env` connects to."""
    ports = {int(server.rpartition(":")[2])
             for server in env["KAFKA_BOOTSTRAP_SERVERS"].split(",")}
    for url in (env["DATABASE_URL"], env["INFLUX_URL"]):
        port = urllib.parse.urlsplit(url).port
        assert port is not None, f"{url} names no port"
        ports.add(port)
    return ports


async def ask(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """(status, JSON body of a 200); status 0 for no answer within ASK_TIMEOUT."""
    try:
        async with session.get(url) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
            return response.status, body
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return 0, None


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its children) so far."""
    proc = psutil.Process(pid)
    times = [proc.cpu_times(), *(child.cpu_times() for child in proc.children(recursive=True))]
    return sum(t.user + t.system for t in times)


@dataclass
class Views:
    """Asks both workers for a sample of jobs (two per partition) while the run goes on.

    A 200 is wrong when its `last_seq` is more than STALE_ROUNDS rounds behind the row
    PostgreSQL held just before the question, and so is a 404 for a job whose row was past its
    first report (the first row is written a moment before the first state is stored). Between
    the two is lag, counted apart: a batch's rows are written before its states are stored, and
    a batch of a backlog spans rounds (2 behind seen while a worker caught up after the rejoin);
    the tables that stopped moving were 16-25 rounds behind.
    """

    app_env: AppEnv
    load: BackupLoad
    workers: dict[str, WorkerProcess]
    session: aiohttp.ClientSession
    phase: str = "split"
    answers: dict[str, dict[str, int]] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    lagging: int = 0

    def sample(self) -> list[str]:
        chosen: dict[int, list[str]] = {}
        for j in range(self.load.jobs):
            job = self.load.job_id(j)
            if len(chosen.setdefault(partition(job), [])) < 2:
                chosen[partition(job)].append(job)
        return [job for jobs in chosen.values() for job in jobs]

    def count(self, key: str) -> None:
        counts = self.answers.setdefault(self.phase, {})
        counts[key] = counts.get(key, 0) + 1

    async def run(self, every: float = 0.5) -> None:
        sample = self.sample()
        first = {self.load.job_id(j): self.load.seq(0, j) for j in range(self.load.jobs)}
        while True:
            rows = await job_rows(self.app_env, self.load)
            before = {job: rows[job]["last_seq"] for job in sample if job in rows}
            asked = [(name, job) for name in self.workers for job in before]
            answers = await asyncio.gather(*(
                ask(self.session, f"{self.workers[name].url}/jobs/{job}") for name, job in asked))
            for (name, job), (status, body) in zip(asked, answers, strict=True):
                self.count(f"{name}_{status}")
                behind = (before[job] - body["last_seq"]) / self.load.pace_us \
                    if status == 200 else 0.0
                self.lagging += 1 < behind <= STALE_ROUNDS
                if (status == 404 and before[job] > first[job]) or behind > STALE_ROUNDS:
                    at = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
                    self.wrong.append(f"{self.phase}: {name} /jobs/{job} at {at}: {status}, "
                                      f"rounds behind PostgreSQL: {behind}")
            await asyncio.sleep(every)


@dataclass
class Inside:
    """Asks B's views from inside its namespace (a filesystem socket, not the wire) while cut:
    what a client next to B would get for the keys it no longer owns."""

    load: BackupLoad
    socket: str
    url: str
    jobs: list[str]
    sent: list[int]
    statuses: dict[int, int] = field(default_factory=dict)
    behind: list[float] = field(default_factory=list)  # rounds, of each 200

    async def run(self, every: float = 1.0) -> None:
        index = {self.load.job_id(j): j for j in range(self.load.jobs)}
        connector = aiohttp.UnixConnector(path=self.socket)
        async with aiohttp.ClientSession(connector=connector, timeout=ASK_TIMEOUT) as session:
            while True:
                for job in self.jobs[:8]:
                    status, body = await ask(session, f"{self.url}/jobs/{job}")
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 200:
                        latest = self.load.seq(self.sent[0] - 1, index[job])
                        self.behind.append((latest - body["last_seq"]) / self.load.pace_us)
                await asyncio.sleep(every)


async def split(a: WorkerProcess, b: WorkerProcess, topic: str) -> set[int] | None:
    """B's partitions of `topic` once both workers own some and together exactly all."""
    try:
        owned_a, owned_b = await owned_partitions(a.url, topic), await owned_partitions(b.url,
                                                                                        topic)
    except OSError:
        return None
    return owned_b if owned_a and owned_b and owned_a | owned_b == ALL \
        and not owned_a & owned_b else None


async def lists_complete(session: aiohttp.ClientSession, workers: list[WorkerProcess],
                         load: BackupLoad) -> bool:
    """Every worker's `/jobs` answers 200 and lists every job exactly once."""
    wanted = sorted(load.job_id(j) for j in range(load.jobs))
    for worker in workers:
        status, body = await ask(session, f"{worker.url}/jobs?limit={load.jobs}")
        if status != 200 or sorted(j["job_id"] for j in body["jobs"]) != wanted:
            return False
    return True


async def final_view_problems(session: aiohttp.ClientSession, a: WorkerProcess,
                              b: WorkerProcess, b_parts: set[int], jobs: BackupLoad,
                              nodes: NodeLoad) -> list[str]:
    """Both workers answer every job and node with its owner's body, and that body is exact."""
    problems: list[str] = []
    keys = [(f"/jobs/{jobs.job_id(j)}", jobs.job_id(j),
             {k: v for k, v in jobs.expected(j).items() if k != "progress_percent"})
            for j in range(jobs.jobs)]
    keys += [(f"/nodes/{n}", n, {"node_id": n, "process_count": ROUNDS - 1})
             for n in nodes.nodes]
    for path, key, wanted in keys:
        owner, other = (b, a) if partition(key) in b_parts else (a, b)
        status, truth = await ask(session, owner.url + path)
        found = {k: truth.get(k) for k in wanted} if status == 200 else None
        if found != wanted:
            problems.append(f"owner {owner.port} {path}: {status} {found} != {wanted}")
            continue
        status, body = await ask(session, other.url + path)
        if (status, body) != (200, truth):
            problems.append(f"other {other.port} {path}: {status} {body} != owner's {truth}")
    return problems


@dataclass
class Run:
    """The two workers, the load and what the test measured of them."""

    app_env: AppEnv
    net: Partition
    session: aiohttp.ClientSession
    a: WorkerProcess
    b: WorkerProcess
    inside_socket: Path
    jobs: BackupLoad = field(default_factory=lambda: backup_load(JOBS, ROUNDS, PACE))
    nodes: NodeLoad = field(default_factory=lambda: node_load(NODES))
    gpus: list[str] = field(default_factory=lambda: [unique("fgpu-") for _ in range(GPUS)])
    sent: list[int] = field(default_factory=lambda: [0])
    took: dict[str, float] = field(default_factory=dict)

    @property
    def backup_topic(self) -> str:
        return self.app_env.topic("backup")

    async def load(self, producer: Producer) -> None:
        began = time.monotonic()
        for r in range(ROUNDS):
            await producer.send(self.backup_topic, self.jobs.round(r))
            await producer.send(self.app_env.topic("node"),
                                [self.nodes.snapshot(n, r) for n in self.nodes.nodes])
            await producer.send(self.app_env.topic("heartbeat"),
                                [heartbeat(g) for g in self.gpus])
            self.sent[0] = r + 1
            await asyncio.sleep(max(0.0, began + (r + 1) * PACE - time.monotonic()))

    async def split(self, what: str) -> list[str]:
        """Wait until both workers share the backup partitions; the jobs of B's."""
        b_parts = await wait_for(lambda: split(self.a, self.b, self.backup_topic),
                                 SETTLE_TIMEOUT, 0.5, what=what)
        return [self.jobs.job_id(j) for j in range(JOBS)
                if partition(self.jobs.job_id(j)) in b_parts]

    async def cut(self, b_jobs: list[str]) -> Inside:
        """Cut B off for CUT_S; time A's takeover meanwhile; what B answered inside."""
        self.took["round_at_cut"] = self.sent[0]
        self.net.cut()
        cut_at = time.monotonic()
        inside = Inside(self.jobs, str(self.inside_socket), self.b.url, b_jobs, self.sent)
        probing = asyncio.create_task(inside.run())
        await asyncio.sleep(0.3)  # a write B sent just before the cut may still land
        at_cut = {k: v["last_seq"] for k, v in (await job_rows(self.app_env, self.jobs)).items()}

        async def a_wrote_b_key() -> bool:
            rows = await job_rows(self.app_env, self.jobs)
            return any(rows[k]["last_seq"] > at_cut.get(k, -1) for k in b_jobs if k in rows)

        async def a_owns_all() -> bool:
            try:
                return await owned_partitions(self.a.url, self.backup_topic) == ALL
            except OSError:
                return False

        await wait_for(a_wrote_b_key, CUT_S, 0.2, what="A's first write of one of B's keys")
        self.took["takeover_write_s"] = time.monotonic() - cut_at
        await wait_for(a_owns_all, CUT_S, 0.2, what="A owning every backup partition")
        self.took["takeover_assigned_s"] = time.monotonic() - cut_at
        await asyncio.sleep(max(0.0, cut_at + CUT_S - time.monotonic()))
        probing.cancel()
        with suppress(asyncio.CancelledError):
            await probing
        return inside

    async def heal(self) -> None:
        """Heal the wire; time B's rejoin and the views' settle."""
        self.net.heal()
        healed_at = time.monotonic()
        await self.split("B owning backup partitions again")
        self.took["rejoin_assigned_s"] = time.monotonic() - healed_at
        await wait_for(lambda: lists_complete(self.session, [self.a, self.b], self.jobs),
                       SETTLE_TIMEOUT, 0.5, what="both workers listing every job")
        self.took["rejoin_settle_s"] = time.monotonic() - healed_at
        self.took["round_at_settle"] = self.sent[0]

    async def final(self) -> dict[str, Any]:
        """After the load: the rows, the views and the alerts against what the load implies."""
        done = time.monotonic()

        async def exact() -> bool:
            return not await mismatched_jobs(self.app_env, self.jobs)

        await wait_for(exact, 120, 1.0, what="every job's final row")
        self.took["rows_final_after_load_s"] = time.monotonic() - done
        b_jobs = await self.split("the assignment after the load")
        views = await final_view_problems(self.session, self.a, self.b, set(map(
            partition, b_jobs)), self.jobs, self.nodes)

        async def inactive_alerts() -> bool:
            found = await self.app_env.rows(
                "SELECT subject FROM alerts WHERE kind = 'worker.inactive' AND subject = ANY($1)",
                self.gpus)
            return len(found) >= len(self.gpus)

        await wait_for(inactive_alerts, 60, what="an inactivity alert for every silenced worker")
        await asyncio.sleep(3)  # several more sweeps: a repeated alert would show now
        return {"views": views,
                "alerts": sorted((r["kind"], r["subject"]) for r in
                                 await self.app_env.rows("SELECT kind, subject FROM alerts")),
                "history": await history_faults(self.app_env, self.nodes, ROUNDS),
                "disks": await disk_mismatches(self.app_env, self.jobs),
                "dead": await self.app_env.consume_json("deadletter", expect=1, timeout=3)}


async def start_pair(app_env: AppEnv, net: Partition,
                     session: aiohttp.ClientSession) -> Run:
    """A on the host, then B in the partition's namespace, relayed to the servers and to A."""
    a = await app_env.start_worker(**WORKER_ENV)
    port_b = free_port()
    inside_socket = app_env.tmp / "b-web.sock"
    net.forward(server_ports(app_env.env) | {a.port}, [port_b], inside_socket, port_b)
    b = WorkerProcess(app_env.with_overrides(FLEETSTREAM_WEB_PORT=str(port_b), **WORKER_ENV),
                      app_env.tmp / "worker-b.log", launcher=net.launcher).start()
    app_env.workers.append(b)
    await b.wait_ready(READY_TIMEOUT)
    return Run(app_env, net, session, a, b, inside_socket)


@pytest.mark.xfail(strict=False, reason=(
    "open faults (issue 12, docs/reliability.md 'A partitioned worker'): after the rejoin the "
    "workers catch up for 20-30 s and partitions with telemetry waiting "
    "count as caught up (false worker.inactive/backup.stale in 8 of 10 runs), an owner's table "
    "was behind its rows in 2 of 10, and 16 history rows were lost at the rebalance in 1 of 10"))
@pytest.mark.timeout(900 if LONG else 420)
async def test_a_worker_cut_off_longer_than_its_session_hands_over_and_rejoins_cleanly(
        app_env: AppEnv, partition_netns: Partition) -> None:
    began = time.monotonic()
    async with aiohttp.ClientSession(timeout=ASK_TIMEOUT) as session:
        run = await start_pair(app_env, partition_netns, session)
        reader = RegressionReader(app_env, run.jobs)
        views = Views(app_env, run.jobs, {"A": run.a, "B": run.b}, session)
        async with Producer(app_env.bootstrap) as producer:
            tasks = [asyncio.create_task(run.load(producer)),
                     asyncio.create_task(reader.run()), asyncio.create_task(views.run())]
            b_jobs = await run.split("both workers owning backup partitions")

            async def b_wrote_all() -> bool:
                return run.sent[0] >= ROUNDS_BEFORE_CUT and \
                    set(b_jobs) <= set(await job_rows(app_env, run.jobs))

            await wait_for(b_wrote_all, 60, 0.5, what="rows of every job of B's partitions")
            views.phase = "cut"
            inside = await run.cut(b_jobs)
            views.phase = "healed"
            await run.heal()
            await tasks[0]
            for task in tasks[1:]:
                task.cancel()
        found = await run.final()
    cpu_s = sum(cpu_seconds(w.proc.pid) for w in (run.a, run.b) if w.proc)
    events = (JOBS + NODES + GPUS) * ROUNDS
    history_rows = await app_env.rows("SELECT count(*) AS n FROM telemetry_history")
    figures("network partition of a worker" + ("" if LONG else " (short variant)"),
            events_in=events, job_rows=len(await job_rows(app_env, run.jobs)),
            history_rows=int(history_rows[0]["n"]), history_faults=sum(found["history"].values()),
            disk_mismatches=found["disks"], dead_letters=len(found["dead"]),
            b_jobs=len(b_jobs), session_timeout_s=10.0, cut_s=CUT_S, **run.took,
            **{f"inside_{status}": n for status, n in sorted(inside.statuses.items())},
            inside_rounds_behind_max=max(inside.behind, default=0.0),
            **{f"views_{phase}_{k}": n for phase, counts in views.answers.items()
               for k, n in sorted(counts.items())}, views_lagging=views.lagging,
            views_wrong=len(views.wrong),
            final_view_problems=len(found["views"]), reader_polls=reader.polls,
            regressions=len(reader.regressions), alerts=len(found["alerts"]),
            worker_cpu_s=cpu_s, cpu_ms_per_event=1000 * cpu_s / events,
            wall_s=time.monotonic() - began, load_avg=round(os.getloadavg()[0], 1))
    for wrong in [*views.wrong[:20], *found["views"][:20], *map(str, found["alerts"][:30])]:
        print(f"detail: {wrong}", flush=True)
    assert reader.regressions == [], "a reader saw a job's bytes go down"
    assert found["history"] == {} and found["disks"] == 0 and found["dead"] == []
    assert views.wrong == [], "a view answered 200 with a value it no longer owned, or 404"
    assert found["views"] == []
    wanted = sorted(("worker.inactive", g) for g in run.gpus)
    assert found["alerts"] == wanted, f"not one alert per transition: {len(found['alerts'])} " \
        f"alerts, {len(wanted)} wanted (docs/reliability.md, known faults 1 and 2)"
