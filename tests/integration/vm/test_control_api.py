"""Seed 002's control API on a running `fleetstream vm-agent`, over a 500-domain test node."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.data.libvirt_node import write_node
from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, ahttp, free_port, wait_for

SECRET = "influx-token-do-not-show"


@pytest.fixture
def agent(app_env: AppEnv, tmp_path: Path) -> Iterator[str]:
    """A running VM agent polling a 500-domain node every 0.2 s; yields its API's URL.

    No worker runs, so the topic does not exist: the samples wait in the outbox, and the agent
    gives up waiting for Kafka 2 s after SIGTERM.
    """
    port = free_port()
    env = app_env.with_overrides(LIBVIRT_URI=write_node(tmp_path, 500), POLL_INTERVAL="0.2",
                                 INFLUX_TOKEN=SECRET, FLEETSTREAM_VM_AGENT_PORT=str(port))
    with (tmp_path / "vm-agent.log").open("wb") as log:
        proc = subprocess.Popen([FLEETSTREAM, "vm-agent", "--flush-timeout", "2"], env=env,
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}/api/telemetry"
    finally:
        proc.terminate()
        try:
            exit_code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert exit_code == 0, (tmp_path / "vm-agent.log").read_text()
        assert SECRET not in (tmp_path / "vm-agent.log").read_text()


async def get(url: str) -> Any:
    status, body = await ahttp("GET", url)
    assert status == 200, body
    return body


async def test_control_api_reports_pauses_and_resumes_collection(agent: str) -> None:
    async def cycles_done(at_least: int) -> Any:
        try:
            status = await get(f"{agent}/status")
        except OSError:
            return None
        return status if status["cycles"] >= at_least else None

    status = await wait_for(lambda: cycles_done(2), 30, what="two collection cycles")
    # How long a cycle takes here (500 domains on a loaded machine can take longer than the
    # 0.2 s poll interval): the pause is judged against several of them, not a fixed second.
    loop = asyncio.get_running_loop()
    started, from_cycle = loop.time(), status["cycles"]
    timed = await wait_for(lambda: cycles_done(from_cycle + 3), 60, what="three more cycles")
    cycle_seconds = (loop.time() - started) / (timed["cycles"] - from_cycle)
    assert status["collecting"] is True and status["connected"] is True
    assert status["vms"] == 500 and status["last_error"] is None
    assert status["publisher"]["dropped"] == 0

    listed = await get(f"{agent}/vms")
    assert listed["count"] == 500
    first = listed["vms"][0]
    assert first["vm_name"] == "vm-0000" and first["state"] == "running"
    assert first["disks"] == ["vda", "vdb"] and len(first["nics"]) == 1

    assert await ahttp("POST", f"{agent}/stop") == (
        200, {"status": "stopped", "collecting": False})
    paused_at = (await get(f"{agent}/status"))["cycles"]
    # A /stop that did nothing would run 4 more cycles in this time; at most the cycle that was
    # under way may finish.
    await asyncio.sleep(max(4 * cycle_seconds, 1.0))
    after_pause = await get(f"{agent}/status")
    assert after_pause["collecting"] is False
    assert after_pause["cycles"] <= paused_at + 1, (paused_at, after_pause, cycle_seconds)

    assert await ahttp("POST", f"{agent}/start") == (
        200, {"status": "started", "collecting": True})
    await wait_for(lambda: cycles_done(after_pause["cycles"] + 2), 10,
                   what="collection to resume")
    assert (await ahttp("POST", f"{agent}/start"))[1]["status"] == "already running"


async def test_config_shows_settings_with_secrets_masked(agent: str) -> None:
    async def config() -> Any:
        try:
            return await get(f"{agent}/config")
        except OSError:
            return None

    shown = await wait_for(config, 30, what="the control API")
    assert shown["INFLUX_TOKEN"] == "***"
    assert SECRET not in str(shown)
    assert shown["LIBVIRT_URI"].startswith("test:///")
    assert shown["POLL_INTERVAL"] == "0.2"
    assert {"INFLUX_URL", "INFLUX_DB", "BATCH_MAX_LINES", "BATCH_MAX_SEC", "DEVICE_CACHE_TTL",
            "LIBVIRT_TIMEOUT"} <= shown.keys()
