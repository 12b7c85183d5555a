"""The dashboard in headless Chromium: workers, backup jobs and nodes show up and update live.

Chromium is Debian's (/usr/bin/chromium), driven by the `playwright` package (the `page` fixture
in conftest.py); no browser download.
A screenshot is kept in artifacts/dashboard.png for a human look.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.helpers import REPO, AppEnv, ahttp, wait_for
from tests.integration.worker.test_heartbeats import heartbeat_body

ARTIFACTS = REPO / "artifacts"
GIB = 2**30


def rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def backup_report(at: datetime, disks: list[int], **overrides: Any) -> dict[str, Any]:
    return {"job_type": "backup", "status": "running", "current_phase": "transferring",
            "bytes_transferred": 0, "total_bytes": 100 * GIB,
            "disks": [{"disk_index": i, "bytes_transferred": b, "status": "transferring"}
                      for i, b in enumerate(disks)],
            "timestamp": rfc3339(at), **overrides}


def snapshot(node_id: str, cpu: float, at: datetime) -> dict[str, Any]:
    return {"node_id": node_id, "cpu_percent": cpu, "memory_percent": 40.0,
            "timestamp": rfc3339(at), "network_rx_bytes": 10**6, "network_tx_bytes": 10**5}


async def post(url: str, body: dict[str, Any]) -> None:
    status, answer = await ahttp("POST", url, body)
    assert status in (200, 202), (url, status, answer)


async def test_dashboard_shows_the_fleet_and_updates_without_reloading(
        app_env: AppEnv, page: Any) -> None:
    worker = await app_env.start_worker(FLEETSTREAM_WORKER_INACTIVE_SECONDS="30")
    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:4]
    await post(f"{worker.url}/api/heartbeat", heartbeat_body(f"gpu-{suffix}-a", cpu_usage=63.0))
    await post(f"{worker.url}/api/heartbeat", heartbeat_body(
        f"gpu-{suffix}-b", ts=rfc3339(now - timedelta(minutes=5))))   # long silent: inactive
    for seconds, disks in ((20, [10 * GIB, 0]), (0, [30 * GIB, 12 * GIB])):
        await post(f"{worker.url}/api/v1/telemetry/backup/nightly-{suffix}",
                   backup_report(now - timedelta(seconds=seconds), disks))
    await post(f"{worker.url}/api/v1/telemetry/backup/weekly-{suffix}",
               backup_report(now - timedelta(minutes=2), [5 * GIB]))   # silent: stale
    await post(f"{worker.url}/api/telemetry/snapshot", snapshot(f"node-{suffix}", 20.0, now))

    async def loaded() -> bool:   # the page loads once: the workers must already hold it all
        listed = [await ahttp("GET", f"{worker.url}/{path}") for path in ("workers", "jobs")]
        return (all(status == 200 for status, _ in listed)
                and {f"gpu-{suffix}-a", f"gpu-{suffix}-b"} <= set(listed[0][1])
                and len(listed[1][1]["jobs"]) == 2
                and any(j["stale"] for j in listed[1][1]["jobs"]))

    await wait_for(loaded, 30, what="the workers to hold the fleet")
    # The safety refresh is ten minutes away: every change after the load must come over /ws/fleet.
    await page.goto(f"{worker.url}/?refresh=600")
    workers = page.locator("#workers tbody tr")
    await workers.filter(has_text=f"gpu-{suffix}-a").filter(has_text="active").wait_for()
    inactive = workers.filter(has_text=f"gpu-{suffix}-b")
    await inactive.filter(has_text="inactive").wait_for()
    assert "63.0%" in await workers.filter(has_text=f"gpu-{suffix}-a").inner_text()

    nightly = page.locator(f'[data-job="nightly-{suffix}"]')
    await nightly.wait_for()
    assert "42.0%" in await nightly.inner_text()   # (30 + 12) GiB of 100 GiB, summed over disks
    assert "/s" in await nightly.inner_text() and "ETA" in await nightly.inner_text()
    assert await nightly.locator(".bar [style]").get_attribute("style") == "width: 42%"
    await page.locator(f'[data-job="weekly-{suffix}"] .badge.stale').wait_for()

    node = page.locator(f'[data-node="node-{suffix}"]')
    await node.wait_for()
    await page.locator("#connection[data-state=live]").wait_for()

    # Live: what arrives after the page loaded appears without a reload, within seconds.
    await post(f"{worker.url}/api/heartbeat", heartbeat_body(f"gpu-{suffix}-c"))
    await post(f"{worker.url}/api/heartbeat", heartbeat_body(f"gpu-{suffix}-b", cpu_usage=77.0))
    await post(f"{worker.url}/api/v1/telemetry/backup/nightly-{suffix}",
               backup_report(now + timedelta(seconds=2), [60 * GIB, 12 * GIB]))
    await post(f"{worker.url}/api/v1/telemetry/backup/weekly-{suffix}",   # no longer stale
               backup_report(now + timedelta(seconds=2), [6 * GIB]))
    for seconds in (5, 10):
        await post(f"{worker.url}/api/telemetry/snapshot",
                   snapshot(f"node-{suffix}", 20.0 + seconds * 5, now + timedelta(seconds=seconds)))
    live = {"timeout": 5000}
    await workers.filter(has_text=f"gpu-{suffix}-c").wait_for(**live)
    await inactive.filter(has_text="77.0%").locator(".badge.active").wait_for(**live)
    assert "just now" in await inactive.inner_text() or "s ago" in await inactive.inner_text()
    await nightly.filter(has_text="72.0%").wait_for(**live)
    await page.locator(f'[data-job="weekly-{suffix}"] .badge.stale').wait_for(
        state="detached", **live)
    await node.filter(has_text="70.0%").wait_for()
    points = await node.locator("polyline.cpu").get_attribute("points")
    assert points is not None and len(points.split()) == 3

    async def rendered() -> bool:   # the sections this test fills (no VM, no open alert here)
        visible: int = await page.locator(
            "#workers-empty:visible, #jobs-empty:visible, #nodes-empty:visible").count()
        return visible == 0

    await wait_for(rendered, 10, what="every section filled")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
