"""`WS /ws/fleet` end to end: heartbeats, job changes and alerts of any worker reach any client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.integration.dashboard.test_dashboard import backup_report, post
from tests.integration.helpers import AppEnv, attach_live_feed, unique
from tests.integration.worker.test_heartbeats import heartbeat_body

GIB = 2**30


async def next_matching(ws: aiohttp.ClientWebSocketResponse,
                        wanted: Callable[[dict[str, Any]], bool], timeout: float = 30
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first message `wanted` accepts, and every message seen up to it."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] = await ws.receive_json()
            seen.append(message)
            if wanted(message):
                return message, seen


async def test_fleet_stream_carries_every_workers_changes_to_any_workers_clients(
        app_env: AppEnv) -> None:
    settings = {"FLEETSTREAM_WORKER_INACTIVE_SECONDS": "3",
                "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}
    first = await app_env.start_worker(**settings)
    second = await app_env.start_worker(**settings)
    worker_id, job_id = unique("gpu-"), unique("job-")

    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"{second.url}/ws/fleet") as ws:
        async def post_beat() -> None:
            await post(f"{first.url}/api/heartbeat", heartbeat_body(worker_id, cpu_usage=63.0))

        beat = await attach_live_feed(ws, post_beat, lambda m: m.get("worker_id") == worker_id)
        assert beat["type"] == "heartbeat"
        assert (beat["cpu_usage"], beat["memory_usage"], beat["gpu_usage"]) == (63.0, 40.0, None)
        assert beat["running_task_count"] == 1
        assert beat["fresh"] is True

        # A burst of progress: one notification at once, one trailing, not one per report.
        now = datetime.now(UTC)
        for done in range(1, 6):
            await post(f"{first.url}/api/v1/telemetry/backup/{job_id}",
                       backup_report(now, [done * GIB], total_bytes=10 * GIB))
        notice, _ = await next_matching(ws, lambda m: m.get("job_id") == job_id)
        assert notice == {"type": "job", "job_id": job_id}
        status, job = await _get_json(session, f"{second.url}/jobs/{job_id}")
        assert status == 200, job

        # Silence: the sweep raises `worker.inactive`, and it reaches this client too.
        alert, seen = await next_matching(
            ws, lambda m: m["type"] == "alert" and m["subject"] == worker_id)
        assert (alert["kind"], alert["state"]) == ("worker.inactive", "raised")
        assert {"alert_id", "at", "detail"} <= set(alert)
        notices = [m for m in seen if m.get("job_id") == job_id] + [notice]
        assert 1 <= len(notices) <= 3, notices


async def _get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json()
