"""Seed 001's "existing WebSocket streaming must continue working", against a running
`fleetstream node-agent` publishing to the real broker: welcome, then metrics in the seed's
format every interval; and the agent's /health and Prometheus /metrics on the same port."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.data.seed_ws import assert_seed_message, assert_welcome
from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, free_port, unique, wait_for


@dataclass
class RunningAgent:
    node_id: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def start_agent(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([FLEETSTREAM, "node-agent", "--interval", "1"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.fixture
async def agent(app_env: AppEnv, node_topic: str) -> AsyncIterator[RunningAgent]:
    node_id, port = unique("live-"), free_port()
    log = app_env.tmp / "node-agent.log"
    proc = start_agent(app_env.with_overrides(
        FLEETSTREAM_NODE_ID=node_id, FLEETSTREAM_NODE_WS_PORT=str(port)), log)
    try:
        yield RunningAgent(node_id, port, proc, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()


async def connect(session: aiohttp.ClientSession, port: int
                  ) -> aiohttp.ClientWebSocketResponse | None:
    try:
        return await session.ws_connect(f"ws://127.0.0.1:{port}")  # the seed's URL: no path
    except aiohttp.ClientConnectionError:
        return None


async def test_websocket_streams_welcome_then_seed_messages_that_also_reach_kafka(
        app_env: AppEnv, agent: RunningAgent) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await wait_for(lambda: connect(session, agent.port), 30,
                            what="the agent's WebSocket port")
        assert ws is not None
        async with ws:
            welcome = json.loads((await ws.receive(timeout=10)).data)
            messages = [json.loads((await ws.receive(timeout=10)).data) for _ in range(3)]
    assert_welcome(welcome, agent.node_id)
    assert welcome["interval"] == 1
    for message in messages:
        assert_seed_message(message, agent.node_id)
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert messages[-1]["metrics"]["disk"]["disk_usage"], "at least one real filesystem"
    assert messages[-1]["metrics"]["processes"]["process_count"] > 0

    records = [r for r in await app_env.consume_json("node", expect=4, timeout=20)
               if r["node_id"] == agent.node_id]
    assert set(stamps) <= {r["ts"] for r in records}, "what the stream showed is in Kafka"


async def test_health_and_prometheus_metrics_of_the_running_agent(agent: RunningAgent) -> None:
    base = f"http://127.0.0.1:{agent.port}"

    async def scrape(session: aiohttp.ClientSession) -> dict[str, float] | None:
        try:
            async with session.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
        except aiohttp.ClientConnectionError:
            return None
        found = {s.name: s.value for family in text_string_to_metric_families(text)
                 for s in family.samples if s.labels.get("agent", s.labels.get("outbox"))
                 == "node-agent"}
        return found if found.get("fleetstream_agent_snapshots_total", 0) >= 2 else None

    async with aiohttp.ClientSession() as session:
        found = await wait_for(lambda: scrape(session), 30, what="two snapshots in /metrics")
        assert found is not None
        async with session.get(f"{base}/health") as response:
            health = await response.json()
            assert response.status == 200, health
    assert found["fleetstream_agent_collection_errors_total"] == 0
    assert found["fleetstream_agent_publish_seconds_count"] >= 2
    for gauge in ("fleetstream_outbox_events", "fleetstream_outbox_bytes",
                  "fleetstream_outbox_oldest_age_seconds", "fleetstream_outbox_dropped_total"):
        assert gauge in found
    assert found["fleetstream_outbox_dropped_total"] == 0
    assert health["status"] == "ok" and health["node_id"] == agent.node_id
    assert health["last_snapshot_age_seconds"] < 5


async def test_a_taken_port_costs_the_live_stream_never_the_collection(app_env: AppEnv) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        log = app_env.tmp / "node-agent.log"
        proc = start_agent(app_env.with_overrides(
            FLEETSTREAM_NODE_ID=unique("taken-"),
            FLEETSTREAM_NODE_WS_PORT=str(taken.getsockname()[1])), log)

        async def conflict_logged() -> bool:
            return "node.ws_unavailable" in log.read_text()

        await wait_for(conflict_logged, 30, what="the port conflict to be logged")
        await asyncio.sleep(2.5)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()
    cycles = int(log.read_text().split("node.stopped cycles=")[1].split()[0])
    assert cycles >= 2, log.read_text()
