"""The live hub: every client gets every message; a client that stops reading is dropped."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType, web

from streams.web.live import LiveHub


@pytest.fixture
async def served() -> AsyncIterator[tuple[LiveHub, str]]:
    """A real aiohttp WebSocket endpoint backed by a hub with a small per-client queue."""
    hub = LiveHub("test", queue_size=4)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await hub.serve(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield hub, f"http://127.0.0.1:{port}/ws"
    finally:
        hub.close_all("test over")
        await runner.cleanup()


async def joined(hub: LiveHub, count: int) -> None:
    for _ in range(500):
        if len(hub.clients) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} clients did not join within 5 s")


async def test_every_client_receives_every_message(served: tuple[LiveHub, str]) -> None:
    hub, url = served
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url) as one, session.ws_connect(url) as two:
        await joined(hub, 2)
        for i in range(3):
            hub.broadcast(f"m{i}")
        for ws in (one, two):
            assert [await ws.receive_str() for _ in range(3)] == ["m0", "m1", "m2"]


async def test_a_client_that_stops_reading_is_dropped_without_slowing_others(
        served: tuple[LiveHub, str]) -> None:
    hub, url = served
    big = "x" * 256 * 1024
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, max_msg_size=0) as fast, \
            session.ws_connect(url, max_msg_size=0) as slow:
        await joined(hub, 2)
        received = 0
        # The slow client never reads: its socket buffers fill, then its queue, then it goes.
        for _ in range(400):
            hub.broadcast(big)  # never waits, whatever the clients do
            assert (await fast.receive()).type is WSMsgType.TEXT
            received += 1
            if hub.dropped_total:
                break
        assert hub.dropped_total == 1
        assert len(hub.clients) == 1
        hub.broadcast("after")
        assert await fast.receive_str() == "after"
        # The slow client finds a policy-violation close after the data it had buffered.
        async with asyncio.timeout(10):
            message = await slow.receive()
            while message.type is WSMsgType.TEXT:
                message = await slow.receive()
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert received < 400
    assert slow.close_code in (WSCloseCode.POLICY_VIOLATION, WSCloseCode.ABNORMAL_CLOSURE)
