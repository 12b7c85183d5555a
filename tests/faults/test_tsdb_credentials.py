"""The TSDB refusing the worker's credentials under load, on a private VictoriaMetrics.

The worker starts with credentials A (its start-up probe checks them), then the TSDB is
restarted requiring B: every write of the running worker is answered 401. For the outage
(20 s; 60 s with FLEETSTREAM_FAULTS_LONG=1) the PostgreSQL rows stay current (the TSDB has a
pipeline of its own), `/health` reports the TSDB degraded with the 401, nothing is dead-lettered
(a refused login is no event's fault), and the TSDB takes no point. Then the TSDB requires A
again, with no worker restart: it ends with every point, exactly one per node and snapshot.
Figures: events in, points out, PostgreSQL's worst lag behind the load, the resume time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetstream.stack.services import HOST, Ports, VictoriaMetrics
from tests.faults.load import LONG, NodeLoad, Producer, figures, history_faults, node_load
from tests.faults.test_sink_faults import degraded
from tests.integration.helpers import AppEnv, WorkerProcess, free_port, http, wait_for

DOWN_SECONDS = 60 if LONG else 20
BEFORE_ROUNDS, AFTER_ROUNDS = 6, 4
NODES = 10
USER, RIGHT, OTHER = "fleetstream", "token-a-3c9d", "token-b-81fe"
LAG_ROUNDS = 8
"""How many rounds (seconds) PostgreSQL's history may trail the load by while the TSDB refuses;
more than the worker's batching needs, far less than the outage (a shared 2-core machine)."""


@dataclass
class Rounds:
    """Sends round r of the node load at second r until `stop` is set; `sent` rounds so far."""

    send: Callable[[int], Awaitable[None]]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0

    async def run(self) -> None:
        began = time.monotonic()
        while not self.stop.is_set():
            await self.send(self.sent)
            self.sent += 1
            await asyncio.sleep(max(0.0, began + self.sent - time.monotonic()))


def export(url: str, password: str, match: str) -> list[dict[str, Any]]:
    """Series matching `match` (VictoriaMetrics `/api/v1/export`), read with basic auth."""
    query = urllib.parse.urlencode({"match[]": match})
    login = base64.b64encode(f"{USER}:{password}".encode()).decode()
    request = urllib.request.Request(f"{url}/api/v1/export?{query}",
                                     headers={"Authorization": f"Basic {login}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


async def indexes(url: str, password: str, nodes: NodeLoad) -> dict[str, list[int]]:
    """Each node's snapshot indexes (their process_count) in the TSDB, duplicates kept."""

    def read() -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for node in nodes.nodes:
            series = export(url, password,
                            f'{{__name__="node_process_count",node_id="{node}"}}')
            found[node] = sorted(int(v) for s in series for v in s["values"])
        return found

    return await asyncio.to_thread(read)


async def history_rows(app_env: AppEnv, nodes: NodeLoad) -> int:
    found = await app_env.rows("SELECT count(*) AS n FROM telemetry_history "
                               "WHERE node_id = ANY($1)", nodes.nodes)
    return int(found[0]["n"])


async def refused_with_401(worker: WorkerProcess) -> bool:
    if not await degraded(worker, "tsdb"):
        return False
    _, health = await asyncio.to_thread(http, "GET", f"{worker.url}/health")
    return any(d["sink"] == "tsdb" and "401" in d["reason"] for d in health["degraded"])


async def postgres_lag(app_env: AppEnv, nodes: NodeLoad, load: Rounds, until: float) -> int:
    """Sample every 2 s until `until` how many rounds the history rows trail the load by; fail
    beyond `LAG_ROUNDS`. Returns the worst lag seen."""
    worst = 0
    while time.monotonic() < until:
        await asyncio.sleep(2.0)
        behind = load.sent - await history_rows(app_env, nodes) // NODES
        worst = max(worst, behind)
        assert behind <= LAG_ROUNDS, (
            f"PostgreSQL is {behind} rounds behind while the TSDB refuses the token")
    return worst


def restart_requiring(tsdb: VictoriaMetrics, password: str) -> None:
    tsdb.stop()
    tsdb.http_auth = (USER, password)
    tsdb.start()


async def test_a_tsdb_refusing_the_token_under_load_gets_every_point_once_it_takes_it(
    app_env: AppEnv, tmp_path: Path,
) -> None:
    tsdb = VictoriaMetrics(tmp_path / "auth-tsdb", Ports(tsdb=free_port()))
    tsdb.http_auth = (USER, RIGHT)
    tsdb.start()
    url = f"http://{HOST}:{tsdb.port}"
    try:
        worker = await app_env.start_worker(INFLUX_URL=url, INFLUX_AUTH_SCHEME="BASIC",
                                            INFLUX_TOKEN=f"{USER}:{RIGHT}")
        assert worker.proc is not None
        pid = worker.proc.pid
        nodes = node_load(NODES)

        async def points() -> int:
            return sum(len(found) for found in (await indexes(url, RIGHT, nodes)).values())

        async def send(producer: Producer, r: int) -> None:
            await producer.send(app_env.topic("node"),
                                [nodes.snapshot(n, r) for n in nodes.nodes])

        async with Producer(app_env.bootstrap) as producer:
            load = Rounds(lambda r: send(producer, r))
            loading = asyncio.create_task(load.run())
            await asyncio.sleep(BEFORE_ROUNDS)
            await wait_for(lambda: _at_least(points, NODES * (BEFORE_ROUNDS - 2)), 60,
                           what="the first rounds' points with the right token")
            await asyncio.to_thread(restart_requiring, tsdb, OTHER)
            refused_at = time.monotonic()
            taken_before = sum(len(f) for f in (await indexes(url, OTHER, nodes)).values())
            await wait_for(lambda: refused_with_401(worker), 30,
                           what="/health to report the TSDB degraded with its 401")
            worst_lag = await postgres_lag(app_env, nodes, load, refused_at + DOWN_SECONDS)
            taken_during = sum(len(f) for f in (await indexes(url, OTHER, nodes)).values())
            assert taken_during == taken_before, "the TSDB took points with the wrong token"
            await asyncio.to_thread(restart_requiring, tsdb, RIGHT)
            back_at = time.monotonic()
            await wait_for(lambda: _at_least(points, taken_during + 1), 120, 0.2,
                           what="the first point once the token is right again")
            resume = time.monotonic() - back_at
            await asyncio.sleep(AFTER_ROUNDS)
            load.stop.set()
            await loading
        rounds = load.sent
        expected = {node: list(range(rounds)) for node in nodes.nodes}

        async def every_point_once() -> bool:
            return await indexes(url, RIGHT, nodes) == expected

        await wait_for(every_point_once, 180, 1.0, what="every point, once, after the outage")
        assert await points() == NODES * rounds
        assert not await history_faults(app_env, nodes, rounds)
        await wait_for(lambda: asyncio.to_thread(
            lambda: http("GET", f"{worker.url}/health")[1]["status"] == "healthy"),
            timeout=30, what="/health healthy again")
        assert worker.proc.poll() is None and worker.proc.pid == pid, "the worker restarted"
        assert await app_env.consume_json("deadletter", expect=1, timeout=3) == []
        figures("TSDB wrong token" + ("" if LONG else " (short variant)"),
                refused_s=float(DOWN_SECONDS), events_in=NODES * rounds,
                points_out=await points(), lost=0, duplicated=0,
                postgres_worst_lag_rounds=worst_lag, resume_s=resume)
    finally:
        tsdb.stop()


async def _at_least(count: Callable[[], Awaitable[int]], least: int) -> bool:
    return await count() >= least
