"""Alerts reach people: a stale backup job is one firing and one resolved notification.

The test runs an Alertmanager of its own (free port, its own state dir; the shared one is used by
other tests) that sends every notification to a webhook served here, and two workers forwarding
their alerts to it, one of which is killed in between. However many workers sweep, take over and
re-send, the receiver hears once that the job went stale and once that it resumed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fleetstream.stack.monitoring import Alertmanager
from fleetstream.stack.services import Ports
from tests.integration.helpers import AppEnv, ahttp, free_port, unique, wait_for

FAST_STALENESS = {"FLEETSTREAM_STALE_AFTER_SECONDS": "3",
                  # Only the stale level within the test: one alert to follow.
                  "FLEETSTREAM_STALLED_AFTER_SECONDS": "600",
                  "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}


class Receiver:
    """A webhook receiver: every notification Alertmanager sends, in arrival order."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []

    async def hook(self, request: web.Request) -> web.Response:
        self.notifications.append(await request.json())
        return web.Response(status=200)

    def about(self, subject: str) -> list[tuple[str, dict[str, Any]]]:
        """(status, alert) of each notification that carries `subject`'s alert."""
        return [(alert["status"], alert) for n in self.notifications for alert in n["alerts"]
                if alert["labels"].get("subject") == subject]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    received = Receiver()
    app = web.Application()
    app.router.add_post("/hook", received.hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield received, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
def own_alertmanager(tmp_path: Path, receiver: tuple[Receiver, str]) -> Any:
    # group_wait and group_interval 1 s, repeat_interval 1 h (the stack's configuration): a
    # second firing notification within the test could only come from a second alert.
    manager = Alertmanager(tmp_path / "alertmanager-state", Ports(alertmanager=free_port()),
                           webhook_url=receiver[1])
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()


def telemetry(status: str = "running") -> dict[str, Any]:
    return {"job_type": "backup", "status": status, "current_phase": "transferring",
            "bytes_transferred": 0, "total_bytes": 1000,
            "disks": [{"disk_index": 0, "bytes_transferred": 10, "status": "transferring"}],
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


async def test_a_job_that_goes_stale_and_resumes_is_one_firing_and_one_resolved_notification(
        app_env: AppEnv, receiver: tuple[Receiver, str], own_alertmanager: Alertmanager) -> None:
    received, _ = receiver
    forward = {**FAST_STALENESS, "FLEETSTREAM_ALERTMANAGER_URL": own_alertmanager.url}
    first = await app_env.start_worker(**forward)
    second = await app_env.start_worker(**forward)
    job_id = unique("job-")

    async def report(status: str = "running") -> None:
        code, answer = await ahttp("POST", f"{first.url}/api/v1/telemetry/backup/{job_id}",
                                   telemetry(status))
        assert code == 200, answer

    await report()

    async def fired() -> list[tuple[str, dict[str, Any]]]:
        return received.about(job_id)
    [(status, alert)] = await wait_for(fired, 60, 0.5, what="the firing notification")
    assert status == "firing"
    [row] = await app_env.rows("SELECT alert_id, raised_at FROM alerts WHERE subject = $1",
                               job_id)
    assert alert["labels"] == {"alertname": "backup.stale", "subject": job_id,
                               "severity": "warning", "alert_id": row["alert_id"]}
    assert datetime.fromisoformat(alert["startsAt"]) == row["raised_at"]

    # A worker dies without committing: what it had consumed is re-delivered to the other one,
    # which re-sends the same alert (same labels), and Alertmanager does not notify again.
    second.kill()

    # Resumes: fresh telemetry every second, so the job never goes stale again in the test.
    async def resolved() -> bool:
        await report()
        return any(status == "resolved" for status, _ in received.about(job_id))
    await wait_for(resolved, 120, 1.0, what="the resolved notification")
    for _ in range(8):  # several sweeps of both workers and Alertmanager group intervals
        await report()
        await asyncio.sleep(1)
    await report("completed")
    await asyncio.sleep(3)

    statuses = [status for status, _ in received.about(job_id)]
    assert statuses == ["firing", "resolved"], received.notifications
    [(_, end)] = [item for item in received.about(job_id) if item[0] == "resolved"]
    assert end["labels"] == alert["labels"]
    [row] = await app_env.rows("SELECT cleared_at FROM alerts WHERE subject = $1", job_id)
    assert datetime.fromisoformat(end["endsAt"]) == row["cleared_at"]
