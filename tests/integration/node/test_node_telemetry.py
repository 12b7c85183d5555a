"""Node telemetry end to end: agent and seed POSTs → telemetry_history, TSDB, views, live stream."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import orjson

from tests.integration.helpers import AppEnv, ahttp, attach_live_feed, tsdb_export, unique, wait_for
from tests.integration.node.support import history, history_of_at_least

MIB = 2**20

SEED_BODY: dict[str, Any] = {  # seed 000's API POST example
    "node_id": "192.168.100.27",
    "timestamp": "2025-12-17T10:00:00Z",
    "cpu_percent": 45.2,
    "memory_percent": 67.8,
    "memory_used_mb": 8704,
    "memory_total_mb": 16384,
    "disk_percent": 82.1,
    "disk_used_gb": 82.1,
    "disk_total_gb": 100.0,
    "network_rx_bytes": 2345678,
    "network_tx_bytes": 1234567,
    "network_rx_rate_mbps": 3.2,
    "network_tx_rate_mbps": 1.5,
    "uptime_seconds": 3600,
    "process_count": 234,
    "active_connections": 45,
    "load_avg_1m": 2.5,
    "load_avg_5m": 2.1,
    "load_avg_15m": 1.8,
}
TOKEN = "s3cret-node-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_node_agent_once_puts_this_host_in_history_and_tsdb(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    node_id = unique("host-")
    result = await asyncio.to_thread(
        app_env.run_cli, "node-agent", "--once", "--timeout", "30", FLEETSTREAM_NODE_ID=node_id)
    assert result.returncode == 0, result.stderr

    rows = await wait_for(lambda: history(app_env, node_id), 30, what="the agent's row")
    row = rows[0]
    assert 0 <= row["cpu_percent"] <= 100
    assert row["memory_total_mb"] > 0
    assert row["disk_total_gb"] > 0
    assert row["process_count"] > 0
    assert row["uptime_seconds"] > 0
    assert row["network_rx_bytes"] is not None

    series = await wait_for(
        lambda: asyncio.to_thread(tsdb_export, app_env.env["INFLUX_URL"],
                                  f'{{__name__=~"node_.*", node_id="{node_id}"}}'),
        30, what="the node series in the TSDB")
    names = {s["metric"]["__name__"] for s in series}
    assert {"node_cpu_percent", "node_memory_used_bytes", "node_disk_percent"} <= names

    status, view = await ahttp("GET", f"{worker.url}/nodes/{node_id}")
    assert status == 200, view
    assert view["node_id"] == node_id
    assert view["source"] == f"node-agent@{socket.gethostname()}"
    assert any(disk["mount"] == "/" for disk in view["disks"])


async def test_seed_posts_become_history_rows_with_reset_aware_rates(app_env: AppEnv) -> None:
    worker = await app_env.start_worker(FLEETSTREAM_INGEST_TOKEN=TOKEN,
                                        FLEETSTREAM_MAX_BODY_BYTES="4096")
    url = f"{worker.url}/api/telemetry/snapshot"
    node_id = unique("seed-")
    # Without posted rates, so the rates are derived from the counters.
    counters_only = {k: v for k, v in SEED_BODY.items() if not k.endswith("_rate_mbps")}
    later = {**counters_only, "node_id": node_id, "timestamp": "2025-12-17T10:00:10Z",
             "network_rx_bytes": SEED_BODY["network_rx_bytes"] + 10 * MIB}
    rebooted = {**later, "timestamp": "2025-12-17T10:00:20Z", "network_rx_bytes": 1000}
    first = {**counters_only, "node_id": node_id}
    for body in (first, later, first, rebooted):  # with a re-POST of the first snapshot
        status, answer = await ahttp("POST", url, body, headers=AUTH)
        assert status == 200, answer
        assert answer["status"] == "success"
        assert answer["node_id"] == node_id

    rows = await wait_for(
        lambda: history_of_at_least(app_env, node_id, 3), 30, what="three history rows")
    assert [r["timestamp"].isoformat() for r in rows] == [
        "2025-12-17T10:00:00+00:00", "2025-12-17T10:00:10+00:00", "2025-12-17T10:00:20+00:00"]
    first_row, later_row, rebooted_row = rows
    assert first_row["memory_used_mb"] == 8704
    assert first_row["memory_total_mb"] == 16384
    assert first_row["disk_percent"] == 82.1
    assert abs(first_row["disk_used_gb"] - 82.1) < 1e-6
    assert first_row["disk_total_gb"] == 100.0
    assert first_row["uptime_seconds"] == 3600
    assert first_row["active_connections"] == 45
    assert first_row["load_avg_15m"] == 1.8
    assert first_row["network_rx_rate_mbps"] is None  # one snapshot: no rate yet
    assert later_row["network_rx_rate_mbps"] == 1.0  # 10 MiB in 10 s of event time
    assert later_row["network_tx_rate_mbps"] == 0.0
    assert rebooted_row["network_rx_rate_mbps"] is None  # counter reset: no negative rate

    status, view = await ahttp("GET", f"{worker.url}/nodes/{node_id}")
    assert status == 200
    assert view["ts"] == "2025-12-17T10:00:20Z"
    assert view["network_rx_bytes_per_second"] is None


async def test_a_seed_daemon_body_keeps_its_posted_rates_and_utc_timestamps(
        app_env: AppEnv) -> None:
    """Seed 000's daemon writes `utcnow().isoformat()` (no offset) and fills network_rx_bytes with
    a packet counter, so its own posted rates are the ones to keep."""
    worker = await app_env.start_worker()
    node_id = unique("daemon-")
    for second, packets in ((0, 100), (10, 150)):
        body = {**SEED_BODY, "node_id": node_id, "network_rx_bytes": packets,
                "timestamp": f"2025-12-17T10:00:{second:02d}.250000"}
        status, answer = await ahttp("POST", f"{worker.url}/api/telemetry/snapshot", body)
        assert status == 200, answer
    rows = await wait_for(lambda: history_of_at_least(app_env, node_id, 2), 30,
                          what="both history rows")
    assert [r["timestamp"].isoformat() for r in rows] == [
        "2025-12-17T10:00:00.250000+00:00", "2025-12-17T10:00:10.250000+00:00"]
    assert [(r["network_rx_rate_mbps"], r["network_tx_rate_mbps"]) for r in rows] == [
        (3.2, 1.5), (3.2, 1.5)]


async def test_seed_post_rejections(app_env: AppEnv) -> None:
    worker = await app_env.start_worker(FLEETSTREAM_INGEST_TOKEN=TOKEN,
                                        FLEETSTREAM_MAX_BODY_BYTES="4096")
    url = f"{worker.url}/api/telemetry/snapshot"

    status, _ = await ahttp("POST", url, SEED_BODY)
    assert status == 401

    status, _ = await ahttp("POST", url, {**SEED_BODY, "padding": "x" * 5000}, headers=AUTH)
    assert status == 413

    bad = {**SEED_BODY, "cpu_percent": 140, "memory_used_mb": -1}
    status, answer = await ahttp("POST", url, bad, headers=AUTH)
    assert status == 422
    fields = {error["field"] for error in answer["errors"]}
    assert fields == {"cpu_percent", "memory_used_mb"}

    # A bad record straight on the topic (a foreign producer) is dead-lettered by the worker.
    await app_env.produce(app_env.topic("node"), [(b"n1", b'{"node_id": "n1"}')])

    letters = await app_env.consume_json("deadletter", expect=2)
    by_origin = {letter["origin_endpoint"] or letter["origin_topic"]: letter for letter in letters}
    letter = by_origin["/api/telemetry/snapshot"]
    assert "cpu_percent" in letter["error"]
    assert orjson.loads(letter["raw"])["cpu_percent"] == 140
    streamed = by_origin[app_env.topic("node")]
    assert "cpu_percent" in streamed["error"]
    assert streamed["raw"] == '{"node_id": "n1"}'


async def test_live_stream_and_views_cover_every_node_from_any_worker(app_env: AppEnv) -> None:
    first = await app_env.start_worker()
    second = await app_env.start_worker()
    nodes = [unique(f"live{i}-") for i in range(6)]

    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"{second.url}/ws/telemetry") as ws:
        async def post_first() -> None:
            await ahttp("POST", f"{first.url}/api/telemetry/snapshot",
                        {**SEED_BODY, "node_id": nodes[0]})

        # A repeated snapshot (same node, same time) is a duplicate, not streamed again.
        received: dict[str, Any] = {nodes[0]: await attach_live_feed(
            ws, post_first, lambda m: m.get("node_id") == nodes[0])}
        for node_id in nodes[1:]:
            status, answer = await ahttp("POST", f"{first.url}/api/telemetry/snapshot",
                                         {**SEED_BODY, "node_id": node_id})
            assert status == 200, answer
        async with asyncio.timeout(30):
            while set(received) != set(nodes):
                message = await ws.receive_json()
                received[message["node_id"]] = message

    message = received[nodes[0]]
    assert message["timestamp"] == "2025-12-17T10:00:00Z"
    metrics = message["metrics"]
    assert metrics["cpu"]["cpu_usage_percent"] == 45.2
    assert metrics["cpu"]["load_avg_1min"] == 2.5
    assert metrics["memory"]["memory_usage_percent"] == 67.8
    assert metrics["memory"]["memory_used_gb"] == 8.5
    assert metrics["disk"]["disk_usage"]["/"]["total_gb"] == 100.0
    assert metrics["network"]["active_connections"] == 45
    assert metrics["processes"]["process_count"] == 234

    async def all_nodes_listed() -> bool:
        for worker in (first, second):
            status, listing = await ahttp("GET", f"{worker.url}/nodes")
            if status != 200 or not set(nodes) <= {n["node_id"] for n in listing["nodes"]}:
                return False
        return True

    await wait_for(all_nodes_listed, 30, what="GET /nodes to list every node on both workers")
    for worker in (first, second):
        for node_id in nodes:  # with 6 nodes on 4 partitions, some live on the other worker
            status, view = await ahttp("GET", f"{worker.url}/nodes/{node_id}")
            assert status == 200, view
            assert view["node_id"] == node_id
        status, answer = await ahttp("GET", f"{worker.url}/nodes/no-such-node")
        assert status == 404
        assert "no-such-node" in answer["error"]
