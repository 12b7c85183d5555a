"""Silent nodes end to end: a node that stops reporting raises one `node.silent` alert, a stream
worker restarted meanwhile does not raise a second, and the node reporting again clears it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.integration.helpers import AppEnv, ahttp, unique, wait_for
from tests.integration.node.test_node_telemetry import SEED_BODY

SILENT = {"FLEETSTREAM_NODE_SILENT_SECONDS": "3", "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}


async def post_snapshot(url: str, node_id: str) -> None:
    # No timestamp: the worker stamps the time it received the body (seed 000's curl example).
    body = {k: v for k, v in SEED_BODY.items() if k != "timestamp"}
    status, answer = await ahttp("POST", f"{url}/api/telemetry/snapshot",
                                 {**body, "node_id": node_id})
    assert status == 200, answer


async def silent_alerts(app_env: AppEnv, node_id: str) -> list[asyncpg.Record]:
    return await app_env.rows(
        "SELECT alert_id, raised_at, cleared_at, detail FROM alerts "
        "WHERE kind = 'node.silent' AND subject = $1 ORDER BY raised_at", node_id)


async def open_silent_gauge(url: str) -> float | None:
    status, text = await ahttp("GET", f"{url}/metrics")
    assert status == 200
    for line in str(text).splitlines():
        if line.startswith('fleetstream_alerts_open{kind="node.silent"}'):
            return float(line.split()[-1])
    return None


async def test_a_node_that_goes_silent_and_comes_back_raises_and_clears_one_alert(
        app_env: AppEnv) -> None:
    node_id = unique("quiet-")
    worker = await app_env.start_worker(**SILENT)
    await post_snapshot(worker.url, node_id)

    [raised] = await wait_for(lambda: silent_alerts(app_env, node_id), 30,
                              what="the node.silent alert row")
    assert raised["cleared_at"] is None
    assert await wait_for(lambda: open_silent_gauge(worker.url), 10,
                          what="fleetstream_alerts_open{kind=node.silent} at 1") == 1.0
    status, view = await ahttp("GET", f"{worker.url}/nodes/{node_id}")
    assert status == 200 and view["silent"] is True, view

    # A restart while the node stays silent: the stream worker takes the partition over again
    # and must not raise a second alert (the state says silent; a re-raise has the same id).
    worker.stop()
    worker = await app_env.start_worker(**SILENT)
    await asyncio.sleep(3)
    assert [r["alert_id"] for r in await silent_alerts(app_env, node_id)] == [raised["alert_id"]]

    async def cleared() -> list[asyncpg.Record]:
        await post_snapshot(worker.url, node_id)
        rows = await silent_alerts(app_env, node_id)
        return rows if rows and rows[0]["cleared_at"] is not None else []

    # Reporting again (every 0.5 s, well within the threshold) clears it.
    [row] = await wait_for(cleared, 30, 0.5, what="the node.silent alert cleared")
    assert row["alert_id"] == raised["alert_id"] and row["cleared_at"] > row["raised_at"]
    reporting = asyncio.create_task(keep_reporting(worker.url, node_id))
    try:
        await asyncio.sleep(4)  # longer than the threshold: no new raise while the node reports
        assert len(await silent_alerts(app_env, node_id)) == 1
        assert await open_silent_gauge(worker.url) == 0.0
        _, view = await ahttp("GET", f"{worker.url}/nodes/{node_id}")
        assert view["silent"] is False, view
        topic: list[dict[str, Any]] = [
            a for a in await app_env.consume_json("alerts", 3, timeout=3)
            if a["kind"] == "node.silent" and a["subject"] == node_id]
    finally:
        reporting.cancel()
    # One raise (a restart that stopped before storing its state may re-send it: the same id,
    # one row) and one clear naming it.
    assert {a["alert_id"] for a in topic if a["state"] == "raised"} == {raised["alert_id"]}, topic
    assert [a["clears"] for a in topic if a["state"] == "cleared"] == [raised["alert_id"]], topic


async def keep_reporting(url: str, node_id: str) -> None:
    while True:
        await post_snapshot(url, node_id)
        await asyncio.sleep(0.5)
