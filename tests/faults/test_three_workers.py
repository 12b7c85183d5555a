"""Three workers on eight partitions, started and stopped one at a time under load.

Backup reports, node snapshots and heartbeats flow (keys chosen so every partition of each topic
has some) while worker A, then B, then C start, and C, then B stop with SIGTERM (the long variant
also restarts C and SIGKILLs it). After each step the test waits until the group has settled:
every running worker owns partitions of each topic, their partitions are disjoint and cover all
eight (each worker's consumer-lag gauge), and every worker's list views are complete. Then it
holds the load, waits until the views show the last round sent, and asks EVERY running worker
for every key's `/jobs/{id}`, `/nodes/{id}` and `/telemetry/{id}` (the per-key worker view:
`/workers/{id}` only has DELETE): the answer must be 200 and equal to the key's owner's answer,
with values exact against what was sent last, and each worker's `/jobs`, `/nodes` and `/workers`
must list every key exactly once. While a step settles, a monitor asks the list views of every
running worker over and over: a 200 that misses a key is a wrong answer (a 503 is an honest one).
At the end every row in PostgreSQL is exact.

A SIGKILLed member keeps its partitions until its session ends; both variants run Faust with a
10 s session (`BROKER_SESSION_TIMEOUT`, read by Faust from the environment), so the settle time
after a kill is bounded by it rather than by Faust's default 60 s.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiokafka.partitioner import murmur2

from producers.backup import progress_event
from schemas.worker import WorkerHeartbeat
from tests.faults.load import DISKS, LONG, NodeLoad, Producer, disk_size, figures
from tests.faults.test_worker_kill import owned_partitions
from tests.integration.helpers import AppEnv, WorkerProcess, free_port, wait_for

PARTITIONS = 8
JOBS, NODES, GPUS = (256, 32, 32) if LONG else (64, 16, 16)
PACE = 1.0  # seconds between rounds, real and event time
FULL = 10_000  # rounds a job would need to finish; the final round jumps there
TOPICS = ("backup", "node", "heartbeat")
BIG = "86400"  # no staleness, silence or inactivity while the load is held for a check
WORKER_ENV = {"FLEETSTREAM_STALE_AFTER_SECONDS": BIG,
              "FLEETSTREAM_STALLED_AFTER_SECONDS": BIG + "0",
              "FLEETSTREAM_WORKER_INACTIVE_SECONDS": BIG,
              "FLEETSTREAM_NODE_SILENT_SECONDS": BIG,
              "BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
SETTLE_TIMEOUT = 180.0
CATCH_UP_TIMEOUT = 300.0
READY_TIMEOUT = 180.0  # a worker starts in ~10 s on a quiet machine, minutes on a loaded one


def partition(key: str) -> int:
    """The partition of a key, as the producers' (Kafka's default) partitioner picks it."""
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % PARTITIONS


def covering(prefix: str, count: int) -> list[str]:
    """`count` keys `<prefix><random>-<n>` with keys on every partition (a new random part
    until they do: with 16 keys a partition is left empty in ~8 % of the draws)."""
    while True:
        keys = [f"{prefix}{uuid.uuid4().hex[:6]}-{n:04d}" for n in range(count)]
        if {partition(k) for k in keys} == set(range(PARTITIONS)):
            return keys


@dataclass
class Load:
    """Rounds of one report per job, one snapshot per node and one heartbeat per GPU worker.

    Round r of job j: seq and event time `start_us + r * 1 s + j` µs, disk d at
    (r + 1) * (1000 + d) bytes of FULL * (1000 + d); the final round reports every disk full and
    the job completed. Node n's snapshot r has process_count r at `start + r s`; heartbeat r has
    cpu_usage `cpu(r)` and memory_usage `memory(r)` at the wall-clock time it was sent.
    """

    jobs: list[str]
    nodes: NodeLoad
    gpus: list[str]
    start_us: int
    sent: int = 0  # rounds sent
    beat_times: list[datetime] = field(default_factory=list)
    final: bool = False

    @property
    def node_ids(self) -> list[str]:
        return self.nodes.nodes

    def seq(self, r: int, j: int) -> int:
        return self.start_us + r * 1_000_000 + j

    @staticmethod
    def cpu(r: int) -> float:
        return (r % 200) / 2

    @staticmethod
    def memory(r: int) -> float:
        return 100 - (r % 200) / 2

    def backup(self, r: int, final: bool) -> list[tuple[bytes, bytes]]:
        def done(d: int) -> int:
            return (FULL if final else r + 1) * disk_size(d)

        return [(job.encode(), progress_event(
            job_id=job, job_type="backup", status="completed" if final else "running",
            phase="transferring", seq=self.seq(r, j), total_bytes=self.total,
            disks={d: (done(d), FULL * disk_size(d)) for d in range(DISKS)},
            source="faults").encode()) for j, job in enumerate(self.jobs)]

    def beats(self, r: int) -> list[tuple[bytes, bytes]]:
        at = datetime.now(UTC)
        self.beat_times.append(at)
        return [(g.encode(), WorkerHeartbeat(
            event_id=uuid.uuid4(), source="faults", ts=at, worker_id=g, cpu_usage=self.cpu(r),
            memory_usage=self.memory(r)).encode()) for g in self.gpus]

    @property
    def total(self) -> int:
        return FULL * sum(disk_size(d) for d in range(DISKS))

    async def send_round(self, app_env: AppEnv, producer: Producer, final: bool = False) -> None:
        r = self.sent
        await producer.send(app_env.topic("backup"), self.backup(r, final))
        await producer.send(app_env.topic("node"), [self.nodes.snapshot(n, r)
                                                    for n in self.node_ids])
        await producer.send(app_env.topic("heartbeat"), self.beats(r))
        self.sent, self.final = r + 1, final

    # What the views must show once round `sent - 1` is in: worked out from the inputs.
    def job_problem(self, j: int, body: dict[str, Any]) -> str | None:
        r = self.sent - 1
        rounds = FULL if self.final else r + 1
        wanted = {"job_id": self.jobs[j], "last_seq": self.seq(r, j),
                  "bytes_transferred": rounds * sum(disk_size(d) for d in range(DISKS)),
                  "total_bytes": self.total,
                  "status": "completed" if self.final else "running",
                  "disks": [rounds * disk_size(d) for d in range(DISKS)]}
        found = {**{k: body.get(k) for k in wanted},
                 "disks": [d.get("bytes_transferred") for d in body.get("disks", [])]}
        return None if found == wanted else f"{found} != {wanted}"

    def node_problem(self, node: str, body: dict[str, Any]) -> str | None:
        r = self.sent - 1
        ts = (self.nodes.start + timedelta(seconds=r)).isoformat().replace("+00:00", "Z")
        wanted = {"node_id": node, "process_count": r, "ts": ts}
        found = {k: body.get(k) for k in wanted}
        return None if found == wanted else f"{found} != {wanted}"

    def gpu_problem(self, gpu: str, body: dict[str, Any]) -> str | None:
        r = self.sent - 1
        wanted = {"worker_id": gpu, "cpu_usage": self.cpu(r), "memory_usage": self.memory(r),
                  "last_update": int(self.beat_times[r].timestamp())}
        found = {k: body.get(k) for k in wanted}
        return None if found == wanted else f"{found} != {wanted}"


@dataclass
class Pacer:
    """Sends rounds every PACE s while not held; `hold()` returns once the round in flight is
    sent, so the test knows exactly which round the views must show."""

    app_env: AppEnv
    load: Load
    producer: Producer
    running: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run(self) -> None:
        while True:
            await self.running.wait()
            began = time.monotonic()
            async with self.lock:
                if self.running.is_set():
                    await self.load.send_round(self.app_env, self.producer)
            await asyncio.sleep(max(0.0, began + PACE - time.monotonic()))

    async def hold(self) -> None:
        self.running.clear()
        async with self.lock:
            pass

    def resume(self) -> None:
        self.running.set()


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    try:
        async with session.get(url) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
            return response.status, body
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return 0, repr(exc)


def list_keys(path: str, body: Any) -> list[str]:
    """The keys a list view's answer names, in order (repeats kept)."""
    if path.startswith("/jobs"):
        return [job["job_id"] for job in body["jobs"]]
    if path == "/nodes":
        return [node["node_id"] for node in body["nodes"]]
    return list(body)  # /workers: worker_id -> basic stats


@dataclass
class Cluster:
    """The running workers of the test, their assignment and their views."""

    app_env: AppEnv
    load: Load
    session: aiohttp.ClientSession
    running: list[WorkerProcess] = field(default_factory=list)
    views_queried: int = 0
    keys_checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    problem: str = ""

    def expected_lists(self) -> dict[str, set[str]]:
        return {f"/jobs?limit={JOBS}": set(self.load.jobs), "/nodes": set(self.load.node_ids),
                "/workers": set(self.load.gpus)}

    async def assignment(self) -> dict[str, list[set[int]]] | None:
        """Per topic, each running worker's owned partitions; None until they are disjoint,
        cover all eight and every running worker has some."""
        found: dict[str, list[set[int]]] = {}
        for name in TOPICS:
            topic = self.app_env.topic(name)
            try:
                owned = [await owned_partitions(w.url, topic) for w in self.running]
            except OSError:
                return None
            flat = [p for parts in owned for p in parts]
            if sorted(flat) != list(range(PARTITIONS)) or not all(owned):
                return None
            found[name] = owned
        return found

    async def lists_complete(self) -> bool:
        """Every running worker's list views answer 200 and name every key exactly once (what
        was wrong last is kept in `problem`, for the message of a wait that times out)."""
        for worker in self.running:
            for path, keys in self.expected_lists().items():
                status, body = await get_json(self.session, worker.url + path)
                listed = list_keys(path, body) if status == 200 else []
                if sorted(listed) != sorted(keys):
                    self.problem = (f"worker {worker.port} {path}: {status} "
                                    f"{body if status != 200 else ''} {len(listed)} listed, "
                                    f"{len(keys - set(listed))} missing")
                    return False
        return True

    async def settle(self, step: str, began: float) -> dict[str, float]:
        """Wait (under load) until the assignment is settled and every list view complete."""
        await wait_for(self.assignment, SETTLE_TIMEOUT, 0.25, what=f"{step}: the assignment")
        assigned = time.monotonic() - began
        try:
            await wait_for(self.lists_complete, SETTLE_TIMEOUT, 0.25,
                           what=f"{step}: complete list views")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last: {self.problem}") from None
        return {"assign_s": assigned, "views_s": time.monotonic() - began}

    async def owner_of(self) -> dict[tuple[str, int], WorkerProcess]:
        assignment = await self.assignment()
        assert assignment is not None, "the assignment moved while the load was held"
        return {(name, p): worker for name, owned in assignment.items()
                for worker, parts in zip(self.running, owned, strict=True) for p in parts}

    async def check(self, step: str) -> None:
        """With the load held: every running worker answers every key as its owner does, with
        the values last sent, and lists every key exactly once."""
        owners = await self.owner_of()
        per_key: list[tuple[str, str, str, Callable[[dict[str, Any]], str | None]]] = [
            *(("backup", k, f"/jobs/{k}", lambda b, j=j: self.load.job_problem(j, b))
              for j, k in enumerate(self.load.jobs)),
            *(("node", k, f"/nodes/{k}", lambda b, k=k: self.load.node_problem(k, b))
              for k in self.load.node_ids),
            *(("heartbeat", k, f"/telemetry/{k}", lambda b, k=k: self.load.gpu_problem(k, b))
              for k in self.load.gpus)]
        truths: dict[str, Any] = {}
        for topic, key, path, problem in per_key:
            owner = owners[(topic, partition(key))]
            status, truth = await get_json(self.session, owner.url + path)
            self.views_queried += 1
            if status != 200 or (why := problem(truth)) is not None:
                self.mismatches.append(f"{step}: owner {owner.port} {path}: {status} "
                                       f"{truth if status != 200 else why}")
                continue
            truths[path] = truth
            for worker in self.running:
                if worker is owner:
                    continue
                status, body = await get_json(self.session, worker.url + path)
                self.views_queried += 1
                if (status, body) != (200, truth):
                    self.mismatches.append(f"{step}: worker {worker.port} {path}: {status} "
                                           f"{body} != owner's {truth}")
            self.keys_checked += 1
        for worker in self.running:
            for path, keys in self.expected_lists().items():
                status, body = await get_json(self.session, worker.url + path)
                self.views_queried += 1
                listed = list_keys(path, body) if status == 200 else []
                if sorted(listed) != sorted(keys):
                    self.mismatches.append(f"{step}: worker {worker.port} {path}: {status}, "
                                           f"{len(listed)} listed, {len(set(listed))} distinct,"
                                           f" {len(keys - set(listed))} missing")
                    continue
                # A list entry is the key's own view (jobs, nodes) or its basic stats.
                for entry in body["jobs"] if path.startswith("/jobs") else \
                        body["nodes"] if path == "/nodes" else []:
                    one = f"/jobs/{entry['job_id']}" if "job_id" in entry \
                        else f"/nodes/{entry['node_id']}"
                    if entry != truths.get(one):
                        self.mismatches.append(f"{step}: worker {worker.port} {path}: the "
                                               f"entry of {one} differs from the owner's")

    async def views_current(self) -> bool:
        """The first running worker's list views show the round last sent for every key (what
        was wrong last is kept in `problem`)."""
        url = self.running[0].url
        problems: list[str] = []

        def compare(path: str, status: int, found: dict[str, Any], keys: list[str],
                    problem: Callable[[int, str, dict[str, Any]], str | None]) -> None:
            for i, key in enumerate(keys):
                why = problem(i, key, found[key]) if key in found else "missing"
                if why:
                    problems.append(f"{path} {status}: {key} {why}")

        status, jobs = await get_json(self.session, f"{url}/jobs?limit={JOBS}")
        compare("/jobs", status, {j["job_id"]: j for j in jobs["jobs"]} if status == 200 else {},
                self.load.jobs, lambda i, _, body: self.load.job_problem(i, body))
        status, nodes = await get_json(self.session, f"{url}/nodes")
        compare("/nodes", status,
                {n["node_id"]: n for n in nodes["nodes"]} if status == 200 else {},
                self.load.node_ids, lambda _, key, body: self.load.node_problem(key, body))
        status, gpus = await get_json(self.session, f"{url}/workers")
        compare("/workers", status, gpus if status == 200 else {}, self.load.gpus,
                lambda _, key, body: self.load.gpu_problem(key, body))
        self.problem = f"{len(problems)} keys behind, first: {problems[0]}" if problems else ""
        return not problems

    async def wait_current(self, what: str) -> float:
        """Wait until the views show the last round sent; the seconds it took."""
        began = time.monotonic()
        try:
            await wait_for(self.views_current, CATCH_UP_TIMEOUT, 0.5, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last: {self.problem}") from None
        return time.monotonic() - began


@dataclass
class Monitor:
    """Asks every running worker's list views, and the view of one job per partition, over and
    over while a step settles. A 503 is an honest answer during a rebalance; a 200 list missing
    a key, or a 404 for a job that has reported, is a wrong one."""

    cluster: Cluster
    step: str = ""
    answers: int = 0
    unavailable: int = 0
    wrong: list[str] = field(default_factory=list)

    def sample(self) -> list[str]:
        """One job of each partition (the first of them)."""
        first: dict[int, str] = {}
        for job in self.cluster.load.jobs:
            first.setdefault(partition(job), job)
        return [first[p] for p in sorted(first)]

    async def run(self) -> None:
        while True:
            for worker in list(self.cluster.running):
                asked = [*self.cluster.expected_lists().items(),
                         *((f"/jobs/{job}", None) for job in self.sample())]
                for path, keys in asked:
                    status, body = await get_json(self.cluster.session, worker.url + path)
                    if worker not in self.cluster.running:
                        continue  # stopped while asked
                    self.answers += 1
                    at = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
                    if status not in (200, 404):
                        self.unavailable += 1
                    elif keys is None and status == 404:
                        self.wrong.append(f"{self.step}: worker {worker.port} {path}: 404 at {at}")
                    elif keys is not None and status == 200:
                        listed = list_keys(path, body)
                        if sorted(listed) != sorted(keys):
                            self.wrong.append(
                                f"{self.step}: worker {worker.port} {path}: {len(listed)} "
                                f"listed, {len(keys - set(listed))} missing at {at}")
            await asyncio.sleep(0.2)


async def start_worker(app_env: AppEnv) -> WorkerProcess:
    """A worker on a port of its own, stopped by the fixture at the end (`app_env.workers`)."""
    port = str(free_port())
    env = app_env.with_overrides(FLEETSTREAM_WEB_PORT=port, **WORKER_ENV)
    worker = WorkerProcess(env, app_env.tmp / f"worker-{port}.log").start()
    app_env.workers.append(worker)
    await worker.wait_ready(READY_TIMEOUT)
    return worker


async def timed(cluster: Cluster, monitor: Monitor, pacer: Pacer, step: str,
                action: Callable[[], Awaitable[None]]) -> dict[str, float]:
    """Run a start or stop under load, wait for the settle, hold the load and check."""
    pacer.resume()
    await asyncio.sleep(2 * PACE)  # the step happens while rounds flow
    monitor.step = step
    watching = asyncio.create_task(monitor.run())
    began = time.monotonic()
    await action()
    acted = time.monotonic() - began
    try:
        times = await cluster.settle(step, began)
    finally:
        watching.cancel()
        with suppress(asyncio.CancelledError):
            await watching
    await pacer.hold()
    caught_up = await cluster.wait_current(f"{step}: the last round in the views")
    await cluster.check(step)
    return {"action_s": acted, **times, "catch_up_s": caught_up}


@pytest.mark.xfail(strict=False, reason=(
    "kept an expected failure (non-strict) until clean-clone CI runs show it passing: with the "
    "stalled-partition watch, the producer-buffer flush and no gap filling it passed 8 of 8 "
    "runs of the short variant here; before them 7 of 9 (docs/reliability.md, 'Snapshots lost "
    "from telemetry_history at a rebalance')"))
@pytest.mark.timeout(2400 if LONG else 1200)  # minutes on a loaded 2-core machine
async def test_three_workers_started_and_stopped_one_at_a_time_answer_from_the_owner(
        app_env: AppEnv) -> None:
    app_env.env["FLEETSTREAM_PARTITIONS"] = str(PARTITIONS)
    start_us = int(time.time()) * 1_000_000
    load = Load(covering("tj-", JOBS), NodeLoad(covering("tn-", NODES),
                                                datetime.now(UTC).replace(microsecond=0)
                                                - timedelta(hours=1)),
                covering("tg-", GPUS), start_us)
    timeout = aiohttp.ClientTimeout(total=20)
    steps: list[tuple[str, dict[str, float]]] = []
    async with Producer(app_env.bootstrap) as producer, \
            aiohttp.ClientSession(timeout=timeout) as session:
        cluster = Cluster(app_env, load, session)
        monitor = Monitor(cluster)
        pacer = Pacer(app_env, load, producer)
        # A first: the topics are created by the first worker, with eight partitions.
        began = time.monotonic()
        cluster.running.append(await start_worker(app_env))
        await load.send_round(app_env, producer)
        steps.append(("start A", {"action_s": time.monotonic() - began,
                                  **await cluster.settle("start A", began)}))
        await cluster.wait_current("start A: the first round")
        await cluster.check("start A")
        pacing = asyncio.create_task(pacer.run())

        def start() -> Callable[[], Awaitable[None]]:
            async def act() -> None:
                cluster.running.append(await start_worker(app_env))
            return act

        def stop(index: int, sig: int) -> Callable[[], Awaitable[None]]:
            async def act() -> None:
                worker = cluster.running.pop(index)
                await asyncio.to_thread(worker.stop, sig)
            return act

        plan = [("start B", start()), ("start C", start()),
                ("SIGTERM C", stop(2, signal.SIGTERM))]
        if LONG:
            plan += [("restart C", start()), ("SIGKILL C", stop(2, signal.SIGKILL))]
        plan += [("SIGTERM B", stop(1, signal.SIGTERM))]
        try:
            for step, action in plan:
                steps.append((step, await timed(cluster, monitor, pacer, step, action)))
                print(f"step {step}: {steps[-1][1]}", flush=True)
        finally:
            pacing.cancel()
            with suppress(asyncio.CancelledError):
                await pacing
        await load.send_round(app_env, producer, final=True)
        await cluster.wait_current("the final round in the views")

        problems = await row_problems(app_env, load)
        deadline = time.monotonic() + 60
        while problems and time.monotonic() < deadline:
            # The views are updated after the rows are written, but poll in case a row write
            # of the final batch is retried.
            await asyncio.sleep(1)
            problems = await row_problems(app_env, load)

    figures("three workers on eight partitions" + ("" if LONG else " (short variant)"),
            jobs=JOBS, nodes=NODES, gpus=GPUS, rounds=load.sent,
            events_in=(JOBS + NODES + GPUS) * load.sent,
            **{f"{s.replace(' ', '_')}_{k}": v for s, t in steps for k, v in t.items()},
            keys_checked=cluster.keys_checked, views_queried=cluster.views_queried,
            monitor_answers=monitor.answers, monitor_unavailable=monitor.unavailable,
            monitor_wrong=len(monitor.wrong), mismatches=len(cluster.mismatches),
            row_problems=len(problems))
    for wrong in [*monitor.wrong[:20], *problems[:20]]:
        print(f"wrong: {wrong}", flush=True)
    assert cluster.mismatches == []
    assert monitor.wrong == [], "a view answered 200 without every key, or 404 for a known one"
    assert problems == []


async def row_problems(app_env: AppEnv, load: Load) -> list[str]:
    """Every PostgreSQL row against the load: jobs and disks complete, one history row per
    snapshot sent, each worker's row at its last heartbeat."""
    problems: list[str] = []
    jobs = {r["job_id"]: dict(r) for r in await app_env.rows(
        "SELECT job_id, bytes_transferred, total_bytes, progress_percent, status, last_seq "
        "FROM backup_jobs")}
    last = load.sent - 1
    for j, job in enumerate(load.jobs):
        wanted = {"job_id": job, "bytes_transferred": load.total, "total_bytes": load.total,
                  "progress_percent": 100.0, "status": "completed", "last_seq": load.seq(last, j)}
        if jobs.get(job) != wanted:
            problems.append(f"{job}: {jobs.get(job)} != {wanted}")
    if len(jobs) != len(load.jobs):
        problems.append(f"{len(jobs)} job rows for {len(load.jobs)} jobs")
    disks = await app_env.rows("SELECT job_id, disk_index, bytes_transferred FROM backup_disks")
    full = {(d["job_id"], d["disk_index"]) for d in disks
            if d["bytes_transferred"] == FULL * disk_size(d["disk_index"])}
    if len(disks) != len(full) or len(full) != len(load.jobs) * DISKS:
        problems.append(f"{len(full)} full disk rows of {len(disks)}; "
                        f"{len(load.jobs) * DISKS} wanted")
    history = await app_env.rows("SELECT node_id, process_count FROM telemetry_history")
    stamps: dict[str, list[int]] = {}
    for h in history:
        stamps.setdefault(h["node_id"], []).append(h["process_count"])
    for node in load.node_ids:
        found = stamps.get(node, [])
        lost = sorted(set(range(load.sent)) - set(found))
        if lost or len(found) != load.sent:
            problems.append(f"telemetry_history of {node} (partition {partition(node)}): "
                            f"{len(found)} rows for {load.sent} snapshots, lost rounds {lost}")
    workers = {r["worker_id"]: (r["cpu_usage"], r["memory_usage"], r["last_update"])
               for r in await app_env.rows(
                   "SELECT worker_id, cpu_usage, memory_usage, last_update FROM workers")}
    wanted_workers = {g: (load.cpu(last), load.memory(last), load.beat_times[last])
                      for g in load.gpus}
    if workers != wanted_workers:
        problems.append(f"workers rows differ: {len(workers)} rows")
    return problems
