"""The query commands find the worker at `--url` > FLEETSTREAM_WEB_URL > WEB_HOST:WEB_PORT.

A tiny aiohttp server on a random port stands in for the worker's HTTP API: these tests are about
where the command looks, not about the worker.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.integration.helpers import free_port

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")
NOW_ISO = "2026-01-01T00:00:00Z"


def _worker(worker_id: str) -> dict[str, object]:
    return {"worker_id": worker_id, "is_active": True, "cpu_usage": 12.5, "memory_usage": 40.0,
            "gpu_usage": None, "running_task_count": 0, "last_update": 0.0,
            "last_update_at": NOW_ISO, "inactive_since": None, "interval_seconds": 5.0,
            "running_tasks": []}


@pytest.fixture
async def fake_api() -> AsyncIterator[str]:
    """A server answering /workers (one worker, `gpu-box-7`) and /jobs (none)."""

    async def workers(request: web.Request) -> web.Response:
        return web.json_response({"gpu-box-7": _worker("gpu-box-7")})

    async def jobs(request: web.Request) -> web.Response:
        return web.json_response({"jobs": []})

    app = web.Application()
    app.router.add_get("/workers", workers)
    app.router.add_get("/jobs", jobs)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _run(*args: str, **env: str) -> tuple[int, str, str]:
    """Run the CLI without blocking the loop the fake API is served on."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTREAM_")}
    proc = await asyncio.create_subprocess_exec(
        FLEETSTREAM, *args, env={**clean, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_workers_reaches_the_api_given_only_by_fleetstream_web_url(fake_api: str) -> None:
    code, out, err = await _run("workers", FLEETSTREAM_WEB_URL=fake_api)
    assert code == 0, err
    assert "gpu-box-7" in out and "1 workers, 1 active" in out


async def test_the_url_option_wins_over_the_environment(fake_api: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, out, err = await _run("jobs", "--url", fake_api, FLEETSTREAM_WEB_URL=dead)
    assert code == 0, err
    assert out.strip() == "no backup jobs"


async def test_fleetstream_web_url_wins_over_host_and_port(fake_api: str) -> None:
    code, out, err = await _run("api", "/workers", FLEETSTREAM_WEB_URL=fake_api,
                                FLEETSTREAM_WEB_PORT=str(free_port()))
    assert code == 0, err
    assert '"gpu-box-7"' in out


async def test_host_and_port_are_used_without_a_url(fake_api: str) -> None:
    port = fake_api.rsplit(":", 1)[1]
    code, out, err = await _run("workers", FLEETSTREAM_WEB_HOST="127.0.0.1",
                                FLEETSTREAM_WEB_PORT=port)
    assert code == 0, err
    assert "gpu-box-7" in out


async def test_an_unreachable_url_names_it_and_how_to_change_it() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, out, err = await _run("workers", FLEETSTREAM_WEB_URL=dead)
    assert code == 1 and out == ""
    assert dead in err and "FLEETSTREAM_WEB_URL" in err and "Traceback" not in err


async def test_a_malformed_url_is_refused_before_any_request() -> None:
    code, _, err = await _run("workers", FLEETSTREAM_WEB_URL="127.0.0.1:6066")
    assert code == 2 and "FLEETSTREAM_WEB_URL" in err and "Traceback" not in err
    code, _, err = await _run("status", "w1", "--url", "ftp://host")
    assert code == 2 and "--url" in err and "Traceback" not in err
