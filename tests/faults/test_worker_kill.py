"""kill -9 of one of two workers under load, and its restart: nothing lost, nothing doubled.

Backup reports (jobs x 4 disks), node snapshots and live heartbeats flow while one worker is
SIGKILLed; the survivor takes its partitions over once the broker ends the dead member's session;
the dead worker is started again later. Afterwards every job's row is exact, `telemetry_history`
has every snapshot once, each worker silenced at the end raised exactly one inactivity alert,
and a reader polling `backup_jobs` during the run never saw a job's bytes go down.

A killed member keeps its partitions until its session times out: Faust's default
`broker_session_timeout` is 60 s. The short variant sets Faust's own `BROKER_SESSION_TIMEOUT=10`
(read from the environment by Faust); the long variant keeps the default and so measures it.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from aiokafka.partitioner import murmur2

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
from tests.integration.helpers import AppEnv, WorkerProcess, ahttp, unique, wait_for

JOBS, ROUNDS, PACE = (1000, 100, 1.0) if LONG else (200, 20, 1.25)
NODES, GPUS = 10, 6
KILL_ROUND = ROUNDS // 5
PARTITIONS = 4  # tests.integration.helpers.base_env
SESSION = {} if LONG else {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
# The nodes fall silent when the run ends; their node.silent alerts are not what this counts.
WORKER_ENV = {"FLEETSTREAM_WORKER_INACTIVE_SECONDS": "8",
              "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5",
              "FLEETSTREAM_NODE_SILENT_SECONDS": "86400", **SESSION}


def partition(key: str) -> int:
    """The partition of a key, as the producers' (Kafka's default) partitioner picks it."""
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % PARTITIONS


async def owned_partitions(url: str, topic: str) -> set[int]:
    """The partitions of `topic` a worker owns, from its consumer-lag gauge."""
    _, text = await ahttp("GET", f"{url}/metrics")
    pattern = rf'fleetstream_consumer_lag{{partition="(\d+)",topic="{re.escape(topic)}"}}'
    alt = rf'fleetstream_consumer_lag{{topic="{re.escape(topic)}",partition="(\d+)"}}'
    return {int(p) for p in re.findall(pattern, str(text)) + re.findall(alt, str(text))}


@dataclass
class Takeover:
    """What the kill cost: the partitions and keys the victim held, and how long they waited."""

    dead_partitions: set[int]
    dead_jobs: list[str]
    takeover_s: float
    rounds_sent_at_restart: int
    restart_ready_s: float


async def kill_and_restart(app_env: AppEnv, victim: WorkerProcess, jobs: BackupLoad,
                           sent_rounds: list[int]) -> Takeover:
    """SIGKILL `victim`, time the survivor's first write of one of its keys, start it again."""
    backup_topic = app_env.topic("backup")
    dead_partitions = await wait_for(lambda: owned_partitions(victim.url, backup_topic), 30,
                                     what="the victim's backup partitions")
    assert len(dead_partitions) < PARTITIONS, "the victim owns every partition"
    dead_jobs = [jobs.job_id(j) for j in range(jobs.jobs)
                 if partition(jobs.job_id(j)) in dead_partitions]
    victim.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(0.3)  # a commit the victim sent before it died may still land
    at_kill = {k: v["last_seq"] for k, v in (await job_rows(app_env, jobs)).items()}

    async def survivor_wrote() -> bool:
        rows = await job_rows(app_env, jobs)
        return any(rows[k]["last_seq"] > at_kill.get(k, -1) for k in dead_jobs if k in rows)

    await wait_for(survivor_wrote, 180, 0.2, what="the survivor's first write of a dead key")
    takeover = time.monotonic() - killed_at
    rounds_at_restart = sent_rounds[0]
    restart_began = time.monotonic()
    victim.start()
    await victim.wait_ready(120)
    return Takeover(dead_partitions, dead_jobs, takeover, rounds_at_restart,
                    time.monotonic() - restart_began)


async def assert_exact(app_env: AppEnv, jobs: BackupLoad, nodes: NodeLoad,
                       gpus: list[str]) -> list[tuple[str, str]]:
    """Every row exact after the run; returns the alerts' (kind, subject), to be checked after
    the figures are printed (one per silenced worker)."""
    assert not await mismatched_jobs(app_env, jobs)
    assert await disk_mismatches(app_env, jobs) == 0

    async def history_complete() -> bool:
        return not await history_faults(app_env, nodes, jobs.rounds)

    await wait_for(history_complete, 120, 1.0, what="every snapshot in telemetry_history")
    assert await history_faults(app_env, nodes, jobs.rounds) == {}

    async def inactive_alerts() -> list[str]:
        found = await app_env.rows("SELECT subject FROM alerts WHERE kind = 'worker.inactive' "
                                   "AND subject = ANY($1)", gpus)
        return [r["subject"] for r in found] if len(found) >= len(gpus) else []

    await wait_for(inactive_alerts, 60, what="an inactivity alert for every silenced worker")
    await asyncio.sleep(3)  # several more sweeps: a repeated alert would show now
    assert await app_env.consume_json("deadletter", expect=1, timeout=3) == []
    return sorted((a["kind"], a["subject"]) for a in
                  await app_env.rows("SELECT kind, subject FROM alerts"))


async def test_kill9_of_a_worker_under_load_loses_and_doubles_nothing(app_env: AppEnv) -> None:
    await app_env.start_worker(**WORKER_ENV)  # the survivor
    victim = await app_env.start_worker(**WORKER_ENV)
    jobs, nodes = backup_load(JOBS, ROUNDS, PACE), node_load(NODES)
    gpus = [unique("fgpu-") for _ in range(GPUS)]
    reader = RegressionReader(app_env, jobs)
    kill_ready, sent_rounds = asyncio.Event(), [0]

    async def load(producer: Producer) -> None:
        began = time.monotonic()
        for r in range(ROUNDS):
            await producer.send(app_env.topic("backup"), jobs.round(r))
            await producer.send(app_env.topic("node"), [nodes.snapshot(n, r) for n in nodes.nodes])
            await producer.send(app_env.topic("heartbeat"), [heartbeat(g) for g in gpus])
            sent_rounds[0] = r + 1
            if r + 1 == KILL_ROUND:
                kill_ready.set()
            await asyncio.sleep(max(0.0, began + (r + 1) * PACE - time.monotonic()))

    async with Producer(app_env.bootstrap) as producer:
        loading = asyncio.create_task(load(producer))
        reading = asyncio.create_task(reader.run())
        await kill_ready.wait()
        takeover = await kill_and_restart(app_env, victim, jobs, sent_rounds)
        await loading
        load_done = time.monotonic()

        async def exact() -> bool:
            return not await mismatched_jobs(app_env, jobs)

        await wait_for(exact, 300, 1.0, what="every job's final row")
        settle = time.monotonic() - load_done
        reading.cancel()

    alerts = await assert_exact(app_env, jobs, nodes, gpus)
    assert reader.regressions == [], "a reader saw a job's bytes go down"
    history_rows = await app_env.rows("SELECT count(*) AS n FROM telemetry_history")
    figures("kill-9 worker" + ("" if LONG else " (short variant)"),
            events_in=(JOBS + NODES + GPUS) * ROUNDS, backup_events=JOBS * ROUNDS,
            job_rows=len(await job_rows(app_env, jobs)),
            history_rows=int(history_rows[0]["n"]), lost=0, duplicated=0,
            dead_partitions=len(takeover.dead_partitions), dead_jobs=len(takeover.dead_jobs),
            session_timeout_s=float(SESSION.get("BROKER_SESSION_TIMEOUT", 60)),
            takeover_s=takeover.takeover_s,
            rounds_sent_at_restart=takeover.rounds_sent_at_restart,
            restart_ready_s=takeover.restart_ready_s, settle_after_load_s=settle,
            reader_polls=reader.polls, regressions=len(reader.regressions), alerts=len(alerts))
    assert alerts == sorted(("worker.inactive", g) for g in gpus), "not one alert per transition"
