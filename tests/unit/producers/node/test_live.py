"""The node agent's live server (producers.node.live) on a real port: welcome, the seed's
messages, a client that stopped reading cut off without holding up the others, /health."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from producers.metrics import AgentMetrics
from producers.node.live import CLIENT_QUEUE, LiveServer
from schemas.node import DiskUsage, NodeSnapshot
from tests.data.seed_ws import assert_seed_message, assert_welcome
from tests.integration.helpers import free_port

T0 = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
# Enough mounts that each message is ~100 kB: a client that does not read fills the socket
# buffers within a few dozen messages.
DISKS = [DiskUsage(mount=f"/srv/volume-{i:05d}-{'x' * 20}", used_bytes=i, total_bytes=10**12,
                   percent=1.5)
         for i in range(1000)]


class Figures:
    depth = bytes = dropped = 0
    oldest_enqueued_at = None


async def stats() -> Figures:
    return Figures()


def snapshot(seconds: float, rx: int) -> NodeSnapshot:
    return NodeSnapshot(event_id=uuid.uuid4(), source="t", ts=T0 + timedelta(seconds=seconds),
                        node_id="n1", cpu_percent=10, memory_percent=20, disks=DISKS,
                        network_rx_bytes=rx, network_tx_bytes=0, network_rx_packets=1,
                        network_tx_packets=2, process_count=3, active_connections=4,
                        load_avg_1m=0.1, load_avg_5m=0.2, load_avg_15m=0.3)


@pytest.fixture
async def server() -> AsyncIterator[tuple[LiveServer, int]]:
    live = LiveServer("n1", 0.05, stats, AgentMetrics("node-agent", "node-agent", stats))
    port = free_port()
    await live.start("127.0.0.1", port)
    try:
        yield live, port
    finally:
        await live.stop()


def silent_client(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b"101" in sock.recv(12)
    return sock


async def test_welcome_then_every_snapshot_in_the_seed_format(
        server: tuple[LiveServer, int]) -> None:
    live, port = server
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"ws://127.0.0.1:{port}/") as ws:
        assert_welcome(json.loads((await ws.receive(timeout=5)).data), "n1")
        live.publish(snapshot(0, 0))
        live.publish(snapshot(2, 4 * 2**20))
        first = json.loads((await ws.receive(timeout=5)).data)
        second = json.loads((await ws.receive(timeout=5)).data)
    assert_seed_message(first, "n1")
    assert_seed_message(second, "n1")
    assert first["metrics"]["network"]["bytes_recv_mb_per_sec"] == 0.0  # nothing to compare
    assert second["metrics"]["network"]["bytes_recv_mb_per_sec"] == 2.0  # 4 MiB in 2 s


async def test_a_client_that_stops_reading_is_cut_and_never_slows_collection(
        server: tuple[LiveServer, int]) -> None:
    live, port = server
    silent = await asyncio.to_thread(silent_client, port)
    received = 0
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"ws://127.0.0.1:{port}/", max_msg_size=0) as ws:

        async def read() -> None:
            nonlocal received
            async for _message in ws:
                received += 1

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.2)
        assert live.clients == 2
        slowest_publish = 0.0
        published = 0
        while live.dropped_clients == 0 and published < 400:
            started = time.perf_counter()
            live.publish(snapshot(published, published))
            slowest_publish = max(slowest_publish, time.perf_counter() - started)
            published += 1
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        reader.cancel()
    silent.close()
    assert live.dropped_clients == 1, f"the silent client was never dropped ({published} sent)"
    assert published > CLIENT_QUEUE
    assert received >= published  # welcome + every message: the reading client kept up
    assert slowest_publish < 0.25, f"publish blocked for {slowest_publish:.3f}s"


async def test_health_turns_stale_when_snapshots_stop(server: tuple[LiveServer, int]) -> None:
    live, port = server
    live.stale_after = 0.5
    live.publish(snapshot(0, 0))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        await asyncio.sleep(0.6)  # no snapshot since: collection is stuck
        async with session.get(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 503
            assert (await response.json())["status"] == "stale"
        async with session.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 426  # a plain GET is told to use a WebSocket
