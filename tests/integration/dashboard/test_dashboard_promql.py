"""Every Prometheus query of the Grafana dashboard answers, with data, from the real Prometheus.

The test starts a real worker and a real node agent, registers both as targets of the stack's
Prometheus under the dashboard's job names (unique instance names, unregistered at the end), gives
them traffic and runs each PROMETHEUS-datasource expression of `deploy/grafana/fleetstream.json`
against `PROMETHEUS_URL/api/v1/query`. Other engineers' targets may be scraped by the same
Prometheus, so each expression is run twice: as the dashboard sends it (it must succeed), and
restricted to this test's two targets (it must also return a number).

Some series only exist, or only move, under a condition, which the test causes:
- sink retries and a degraded sink: the worker's TSDB URL is a closed port, so the TSDB pipeline
  retries (the dashboard's TSDB panels are not part of this test);
- dead letters: a record that is not JSON is produced to the backup topic every few seconds;
- open alerts: one backup job goes stale (3 s) and stays so;
- events, batches, folds, sink writes: backup telemetry every half second, node snapshots every
  second. `fleetstream_agent_collection_errors_total` stays 0 (the node agent reads this machine
  without failing), which is still a sample: the counter is exported from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fleetstream.stack import Stack
from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, ahttp, free_port, unique, wait_for
from tests.unit.deploy.dashboard import PROMETHEUS, metric_names, queries

FAST_STALENESS = {"FLEETSTREAM_STALE_AFTER_SECONDS": "3",
                  "FLEETSTREAM_STALLED_AFTER_SECONDS": "600",
                  "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}
# A rate over the dashboard's 1m window needs two scrapes (2 s apart) after a series moved; a
# quiet pipeline's histogram quantile is NaN, so the window must hold several busy batches.
SETTLE_SECONDS = 20


def scoped(expr: str, matcher: str) -> str:
    """`expr` with `matcher` added to every metric selector (function names are left alone)."""
    names = metric_names(expr)

    def add(match: re.Match[str]) -> str:
        token, braces = match.group(1), match.group(2)
        base = token
        for suffix in ("_bucket", "_sum", "_count"):
            base = base.removesuffix(suffix)
        if token not in names and base not in names:
            return match.group(0)
        inner = braces[1:-1].strip() if braces else ""
        return f"{token}{{{matcher}{', ' + inner if inner else ''}}}"

    # Every name with its own `{...}` if any; label names, `by (...)` lists and quoted values
    # are not metric names, and a name followed by `(` is a function.
    return re.sub(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\{[^}]*\})?(?!\s*\()", add, expr)


async def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{prometheus}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert response.status == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def numbers(result: list[dict[str, Any]]) -> list[float]:
    return [float(sample["value"][1]) for sample in result
            if not math.isnan(float(sample["value"][1]))]


def telemetry(done: int) -> dict[str, Any]:
    return {"job_type": "backup", "status": "running", "current_phase": "transferring",
            "bytes_transferred": done, "total_bytes": 10**9,
            "disks": [{"disk_index": 0, "bytes_transferred": done, "status": "transferring"}],
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


def start_node_agent(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([FLEETSTREAM, "node-agent", "--interval", "1"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.fixture
async def node_agent(app_env: AppEnv) -> AsyncIterator[int]:
    """A node agent publishing every second, its /metrics on the returned port."""
    port = free_port()
    log = app_env.tmp / "node-agent.log"
    proc = start_node_agent(app_env.with_overrides(FLEETSTREAM_NODE_ID=unique("promql-"),
                                                   FLEETSTREAM_NODE_WS_PORT=str(port)), log)
    try:
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()


async def traffic(app_env: AppEnv, url: str) -> None:
    """Backup telemetry every 0.5 s and a poison record every 2 s, until cancelled."""
    job_id, done = unique("busy-"), 0
    while True:
        for _ in range(4):
            done += 1000
            status, answer = await ahttp("POST", f"{url}/api/v1/telemetry/backup/{job_id}",
                                         telemetry(done))
            assert status == 200, answer
            await asyncio.sleep(0.5)
        await app_env.produce(app_env.topic("backup"), [(job_id.encode(), b"not json")])


async def test_every_prometheus_query_of_the_dashboard_answers_with_data(
        app_env: AppEnv, stack_env: dict[str, str], node_agent: int) -> None:
    worker = await app_env.start_worker(
        **FAST_STALENESS, INFLUX_URL=f"http://127.0.0.1:{free_port()}")
    prometheus = stack_env["PROMETHEUS_URL"]
    stack = Stack(REPO / ".stack")
    worker_name, agent_name = unique("promql-worker-"), unique("promql-agent-")
    registered = [("fleetstream-worker", worker_name, f"127.0.0.1:{worker.port}"),
                  ("fleetstream-agent", agent_name, f"127.0.0.1:{node_agent}")]
    mine = f'name=~"{worker_name}|{agent_name}"'
    status, answer = await ahttp("POST", f"{worker.url}/api/v1/telemetry/backup/"
                                 f"{unique('stale-')}", telemetry(1))
    assert status == 200, answer
    load = asyncio.create_task(traffic(app_env, worker.url))
    try:
        for job, name, host_port in registered:
            stack.register_target(job, name, host_port)

        async def both_up() -> bool:
            return sorted(numbers(await query(prometheus, f"up{{{mine}}}"))) == [1.0, 1.0]
        await wait_for(both_up, 60, 1, what="both targets scraped by Prometheus")
        await asyncio.sleep(SETTLE_SECONDS)

        dashboard = [q for q in queries() if q.datasource == PROMETHEUS]
        assert dashboard, "the dashboard has Prometheus panels"
        empty, answers = [], {}
        for panel_query in dashboard:
            await query(prometheus, panel_query.runnable)
            ours = scoped(panel_query.runnable, mine)
            answers[panel_query.runnable] = result = await query(prometheus, ours)
            if not numbers(result):
                empty.append((panel_query.panel, ours))
        assert not empty, f"queries without data: {empty}"

        def by(metric: str, label: str) -> dict[str, float]:
            [result] = [r for expr, r in answers.items() if f"{metric}[" in expr
                        or f"{metric})" in expr]
            return {sample["metric"][label]: float(sample["value"][1]) for sample in result}
        # The conditions the test caused show on the panels.
        assert by("fleetstream_sink_degraded", "sink")["tsdb"] == 1.0
        assert by("fleetstream_sink_retries_total", "sink")["tsdb"] > 0
        assert by("fleetstream_alerts_open", "kind")["backup.stale"] >= 1
        assert any(value > 0 for value in by("fleetstream_deadletters_total", "reason").values())
        assert by("fleetstream_events_consumed_total", "topic")[app_env.topic("backup")] > 0
    finally:
        load.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load
        for job, name, _ in registered:
            stack.unregister_target(job, name)


def test_scoping_adds_the_matcher_to_every_selector_and_nothing_else() -> None:
    m = 'name="x"'
    assert scoped('sum(up{job="fleetstream-worker"})', m) == \
        'sum(up{name="x", job="fleetstream-worker"})'
    assert scoped("sum by (sink) (rate(fleetstream_sink_retries_total[1m]))", m) == \
        'sum by (sink) (rate(fleetstream_sink_retries_total{name="x"}[1m]))'
    assert scoped("histogram_quantile(0.95, sum by (sink, le) "
                  "(rate(fleetstream_sink_write_seconds_bucket[1m])))", m) == \
        ('histogram_quantile(0.95, sum by (sink, le) '
         '(rate(fleetstream_sink_write_seconds_bucket{name="x"}[1m])))')
