"""The Alertmanager sink's one decision: which answers are transient and which are refusals."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streams.pipeline.sink import SinkRejected, SinkUnavailable
from streams.sinks.alertmanager import AlertmanagerHTTPError, AlertmanagerSink, classify


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


ALERT = {"labels": {"alertname": "backup.stale", "subject": "j-1"}}


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_retried(status: int) -> None:
    assert isinstance(classify(AlertmanagerHTTPError(status, "busy")), SinkUnavailable)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_other_client_errors_are_refusals_naming_the_answer(status: int) -> None:
    error = classify(AlertmanagerHTTPError(status, "start time must be before end time"))
    assert isinstance(error, SinkRejected)
    assert f"HTTP {status}" in error.reason and "start time" in error.reason


@pytest.mark.parametrize("exc", [aiohttp.ClientConnectionError("refused"),
                                 TimeoutError(), ConnectionResetError("reset")])
def test_no_answer_is_retried(exc: BaseException) -> None:
    assert isinstance(classify(exc), SinkUnavailable)


def test_an_unknown_error_is_left_to_the_runtime() -> None:
    assert classify(ValueError("bug")) is None


async def answering(status: int, got: list[Any]) -> web.AppRunner:
    async def alerts(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=status, text="invalid label set")

    app = web.Application()
    app.router.add_post("/api/v2/alerts", alerts)
    runner = web.AppRunner(app)
    await runner.setup()
    return runner


@pytest.mark.parametrize(("status", "raised"), [(200, None), (400, SinkRejected),
                                                (503, SinkUnavailable)])
async def test_a_batch_is_one_post_and_its_answer_decides(
        status: int, raised: type[Exception] | None) -> None:
    got: list[Any] = []
    runner = await answering(status, got)
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sink = AlertmanagerSink(f"http://127.0.0.1:{port}/")
    try:
        if raised is None:
            await sink.write([ALERT, ALERT])
        else:
            with pytest.raises(raised, match=f"HTTP {status}: invalid label set"):
                await sink.write([ALERT, ALERT])
        assert got == [[ALERT, ALERT]]
        await sink.write([])
        assert len(got) == 1, "an empty batch sends nothing"
    finally:
        await sink.close()
        await runner.cleanup()


async def test_an_alertmanager_that_is_down_is_unavailable() -> None:
    sink = AlertmanagerSink(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(SinkUnavailable, match="unreachable"):
            await sink.write([ALERT])
    finally:
        await sink.close()
