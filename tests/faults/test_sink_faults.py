"""Sink faults under load: PostgreSQL really stopped and started, the TSDB killed with SIGKILL.

Both run on servers of the test's own (a private PostgreSQL cluster, a private VictoriaMetrics),
never the shared ones. While a sink is away the worker holds its batches (nothing acknowledged,
nothing dropped) and reports the sink degraded; its memory stays bounded (sampled every second);
when the sink is back every row and point arrives. Figures: events in, rows or points out, lost,
the worker's RSS, and the resume time (sink back to the first new write). Short variant: 20 s
outages; long: 60 s.

VictoriaMetrics 1.79 (Debian's, the local stand-in for InfluxDB) loses on SIGKILL the points it
took in its last seconds, even after `/internal/force_flush`: it had acknowledged them, so the
pipeline had committed their offsets. The TSDB test asserts that only points sent before the kill
are missing, counts them, and shows that `fleetstream replay` (the raw topics are kept forever)
writes them again; the pipeline itself loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fleetstream.stack.process import port_open
from fleetstream.stack.services import HOST, Ports, Postgres, VictoriaMetrics
from tests.faults.load import (
    LONG,
    NodeLoad,
    Producer,
    RssSampler,
    backup_load,
    figures,
    history_faults,
    mismatched_jobs,
    node_load,
)
from tests.integration.helpers import (
    AppEnv,
    WorkerProcess,
    free_port,
    http,
    tsdb_export,
    wait_for,
)

DOWN_SECONDS = 60 if LONG else 20
BEFORE_ROUNDS, AFTER_ROUNDS = 6, 4
FLUSHED_ROUNDS = 3  # the TSDB test flushes the TSDB's memory after these
ROUNDS = BEFORE_ROUNDS + DOWN_SECONDS + AFTER_ROUNDS  # one round a second
JOBS, NODES = 100, 10


def rss_bound(baseline: float) -> float:
    """The RSS a worker may reach during an outage: its backlog is bounded by the consumer's
    buffers, not by the outage's length."""
    return 1.5 * baseline + 64


@dataclass
class Paced:
    """Sends round r of a load at second r; `sent` counts the rounds sent so far."""

    rounds: int
    send: Callable[[int], Awaitable[None]]
    sent: int = 0

    async def run(self) -> None:
        began = time.monotonic()
        for r in range(self.rounds):
            await self.send(r)
            self.sent = r + 1
            await asyncio.sleep(max(0.0, began + r + 1 - time.monotonic()))


async def degraded(worker: WorkerProcess, sink: str) -> bool:
    _, health = await asyncio.to_thread(http, "GET", f"{worker.url}/health")
    return isinstance(health, dict) and any(
        d["sink"] == sink for d in health.get("degraded", []))


async def test_postgres_stopped_and_started_under_load_loses_nothing(
    private_app_env: AppEnv, private_postgres: Postgres,
) -> None:
    app_env = private_app_env
    worker = await app_env.start_worker()
    assert worker.proc is not None
    jobs, nodes = backup_load(JOBS, ROUNDS, 1.0), node_load(NODES)
    rss = RssSampler(worker.proc.pid)

    async def send(producer: Producer, r: int) -> None:
        await producer.send(app_env.topic("backup"), jobs.round(r))
        await producer.send(app_env.topic("node"), [nodes.snapshot(n, r) for n in nodes.nodes])

    async def history_rows() -> int:
        try:
            found = await app_env.rows("SELECT count(*) AS n FROM telemetry_history")
        except OSError:
            return -1
        return int(found[0]["n"])

    async with Producer(app_env.bootstrap) as producer:
        loading = asyncio.create_task(Paced(ROUNDS, lambda r: send(producer, r)).run())
        sampling = asyncio.create_task(rss.run())
        await asyncio.sleep(BEFORE_ROUNDS)
        baseline = max(rss.samples)
        private_postgres.stop()
        await wait_for(lambda: degraded(worker, "postgres"), 30,
                       what="/health to report PostgreSQL degraded")
        await asyncio.sleep(DOWN_SECONDS)
        private_postgres.start()
        back_at = time.monotonic()
        at_start = await history_rows()
        await wait_for(lambda: _grew(history_rows, at_start), 120, 0.2,
                       what="the first write after PostgreSQL is back")
        resume = time.monotonic() - back_at
        await loading
        load_done = time.monotonic()

        async def exact() -> bool:
            return not await mismatched_jobs(app_env, jobs) and not await history_faults(
                app_env, nodes, ROUNDS)

        await wait_for(exact, 180, 1.0, what="every row after the outage")
        settle = time.monotonic() - load_done
        sampling.cancel()
    assert await app_env.consume_json("deadletter", expect=1, timeout=3) == []
    assert max(rss.samples) <= rss_bound(baseline), rss.samples
    figures("PostgreSQL stopped" + ("" if LONG else " (short variant)"),
            down_s=float(DOWN_SECONDS), events_in=(JOBS + NODES) * ROUNDS,
            job_rows=JOBS, history_rows=await history_rows(), lost=0, duplicated=0,
            resume_s=resume, settle_after_load_s=settle, rss_baseline_mib=baseline,
            rss_max_mib=max(rss.samples))


async def _grew(count: Callable[[], Awaitable[int]], before: int) -> bool:
    return await count() > before


async def sigkill(tsdb: VictoriaMetrics) -> None:
    pid = tsdb.process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: asyncio.to_thread(lambda: not port_open(HOST, tsdb.port)), 15,
                   what="the TSDB's port to close")


async def replay_restores(app_env: AppEnv, url: str,
                          points: Callable[[], Awaitable[int]]) -> float:
    """`fleetstream replay` into the TSDB until it has every point again; its duration."""
    began = time.monotonic()
    result = await asyncio.to_thread(app_env.run_cli, "replay", "--timeout", "120", timeout=180,
                                     INFLUX_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr

    async def complete() -> bool:
        return await points() == NODES * ROUNDS

    await wait_for(complete, 60, 1.0, what="every point after the replay")
    return time.monotonic() - began


def force_flush(url: str) -> None:
    """Make VictoriaMetrics persist what it holds in memory (its `/internal/force_flush`)."""
    with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10):
        pass


async def tsdb_indexes(url: str, nodes: NodeLoad) -> dict[str, set[int]]:
    """The snapshot indexes (their process_count) of each node's points in the TSDB; none while
    it is down."""

    def read() -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        for node in nodes.nodes:
            series = tsdb_export(url, f'{{__name__="node_process_count",node_id="{node}"}}')
            found[node] = {int(v) for s in series for v in s["values"]}
        return found

    try:
        return await asyncio.to_thread(read)
    except OSError:
        return {}


async def test_a_tsdb_killed_under_load_gets_every_point_after(
    app_env: AppEnv, tmp_path: Path,
) -> None:
    tsdb = VictoriaMetrics(tmp_path / "own-tsdb", Ports(tsdb=free_port()))
    tsdb.start()
    url = f"http://{HOST}:{tsdb.port}"
    try:
        worker = await app_env.start_worker(INFLUX_URL=url)
        assert worker.proc is not None
        nodes = node_load(NODES)
        rss = RssSampler(worker.proc.pid)

        async def send(producer: Producer, r: int) -> None:
            await producer.send(app_env.topic("node"),
                                [nodes.snapshot(n, r) for n in nodes.nodes])

        async def indexes() -> dict[str, set[int]]:
            return await tsdb_indexes(url, nodes)

        async def points() -> int:
            return sum(len(found) for found in (await indexes()).values())

        async with Producer(app_env.bootstrap) as producer:
            paced = Paced(ROUNDS, lambda r: send(producer, r))
            loading = asyncio.create_task(paced.run())
            sampling = asyncio.create_task(rss.run())
            await asyncio.sleep(FLUSHED_ROUNDS)
            await wait_for(lambda: _grew(points, NODES * FLUSHED_ROUNDS - 1), 30,
                           what="the first rounds' points")
            # VictoriaMetrics (1.79) loses on SIGKILL what it took in the last seconds, even
            # flushed: what it loses is counted, and a replay brings it back.
            await asyncio.to_thread(force_flush, url)
            await asyncio.sleep(BEFORE_ROUNDS - FLUSHED_ROUNDS)
            baseline = max(rss.samples)
            sent_at_kill = paced.sent
            await sigkill(tsdb)
            await wait_for(lambda: degraded(worker, "tsdb"), 30,
                           what="/health to report the TSDB degraded")
            await asyncio.sleep(DOWN_SECONDS)
            tsdb.start()
            back_at = time.monotonic()
            at_start = await points()
            await wait_for(lambda: _grew(points, at_start), 120, 0.2,
                           what="the first point after the TSDB is back")
            resume = time.monotonic() - back_at
            await loading
            load_done = time.monotonic()
            # Every point sent from the kill on arrives; before it, only those the TSDB had
            # acknowledged and not yet flushed may be missing (they were stored, then lost).
            kill_round = sent_at_kill + 1  # the round being sent at the kill

            async def every_point_after_the_kill() -> bool:
                found = await indexes()
                return all(set(range(kill_round, ROUNDS)) <= found.get(n, set())
                           for n in nodes.nodes)

            await wait_for(every_point_after_the_kill, 180, 1.0,
                           what="every point after the outage")
            settle = time.monotonic() - load_done
            sampling.cancel()
        lost = {i for n, found in (await indexes()).items() for i in set(range(ROUNDS)) - found}
        assert lost < set(range(kill_round)), f"points sent after the kill lost: {sorted(lost)}"
        lost_by_tsdb = NODES * ROUNDS - await points()
        replay = await replay_restores(app_env, url, points)
        assert not await history_faults(app_env, nodes, ROUNDS)
        assert await app_env.consume_json("deadletter", expect=1, timeout=3) == []
        assert max(rss.samples) <= rss_bound(baseline), rss.samples
        figures("TSDB SIGKILL" + ("" if LONG else " (short variant)"),
                down_s=float(DOWN_SECONDS), events_in=NODES * ROUNDS,
                points_out=await points(), lost_by_pipeline=0,
                rounds_sent_before_kill=sent_at_kill,
                lost_by_tsdb_at_kill=lost_by_tsdb, replay_s=replay, lost_after_replay=0,
                duplicated=0, resume_s=resume, settle_after_load_s=settle,
                rss_baseline_mib=baseline, rss_max_mib=max(rss.samples))
    finally:
        tsdb.stop()
