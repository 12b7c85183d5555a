"""`Publisher.stop()` returns even when its drain task loses the cancel sent to it.

Python 3.11's `asyncio.wait_for` hands back the inner result when a cancel arrives just as the
inner awaitable finishes (gh-86296), and aiokafka's client `close()` suppresses `CancelledError`;
a CI run of the suite hung 300 s in `stop()` on such a lost cancel. The connect step here loses
its cancel the same way, deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError

from common.settings import Settings
from producers.outbox import read_stats
from producers.publisher import Publisher
from tests.integration.helpers import free_port


async def test_stop_returns_when_the_drain_task_loses_its_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load({"FLEETSTREAM_DATA_DIR": str(tmp_path),
                              "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"},
                             dotenv=None)
    publisher = Publisher("node-agent", settings, retry_backoff_initial=0.05,
                          retry_backoff_max=0.05)
    connecting = asyncio.Event()
    attempts = 0

    async def connect_losing_the_cancel() -> None:
        nonlocal attempts
        attempts += 1
        connecting.set()
        # Lost, as 3.11's wait_for loses it when the inner finished at that very moment.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        raise KafkaConnectionError("Unable to bootstrap")

    monkeypatch.setattr(publisher, "_connect", connect_losing_the_cancel)
    await publisher.start()
    await publisher.publish("telemetry.node", b"k", b"v")
    await asyncio.wait_for(connecting.wait(), 5)

    async with asyncio.timeout(10):
        flushed = await publisher.stop(flush_timeout=0)

    assert flushed is False
    assert attempts == 1, "the drain loop went on connecting after stop()"
    assert read_stats(tmp_path / "outbox" / "node-agent.sqlite3").depth == 1
