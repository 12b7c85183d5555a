"""The whole fleet in headless Chromium: VMs with their rates, a job's detail, the open alerts.

One real worker; two VMs' samples on the VM topic, a two-disk backup job posted over seed 003's
endpoint, and a job last heard of two minutes ago (its `backup.stale` alert is raised by the
sweep and recorded in PostgreSQL). Screenshots: artifacts/dashboard-vms.png, dashboard-job.png,
dashboard-alerts.png.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.vm import VmDisk, VmNic, VmSample
from tests.integration.dashboard.test_dashboard import ARTIFACTS, GIB, backup_report, post, snapshot
from tests.integration.helpers import AppEnv, ahttp, wait_for

MIB = 2**20
# A job silent for longer than this is stale at the first sweep, however slow the worker's start.
SETTINGS = {"FLEETSTREAM_STALE_AFTER_SECONDS": "60", "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}
# Per VM: (cpu share of its 2 vCPUs, NIC rx/tx and disk read/write bytes per second).
VMS = {"web": (0.25, 1 * MIB, 512 * 1024, 2 * MIB, 256 * 1024),
       "db": (0.5, 3 * MIB, 1 * MIB, 8 * MIB, 4 * MIB)}
EXPECTED_CELLS = {"web": {"cpu": "25.0%", "rx": "1.0 MiB/s", "tx": "512.0 KiB/s",
                          "rd": "2.0 MiB/s", "wr": "256.0 KiB/s"},
                  "db": {"cpu": "50.0%", "rx": "3.0 MiB/s", "tx": "1.0 MiB/s",
                         "rd": "8.0 MiB/s", "wr": "4.0 MiB/s"}}


def vm_samples(name: str, vm_uuid: uuid.UUID, now: datetime) -> list[VmSample]:
    """Two samples 10 s apart whose counters grow at the VM's rates."""
    share, rx, tx, rd, wr = VMS[name]
    samples = []
    for step in (0, 1):
        elapsed = step * 10
        samples.append(VmSample(
            event_id=uuid.uuid4(), source="dashboard-test",
            ts=now - timedelta(seconds=10 - elapsed),
            host="hv1", vm_uuid=vm_uuid, vm_name=name, state="running", vcpus=2,
            cpu_time_ns=round(10**12 + elapsed * share * 2 * 10**9),
            memory_actual_bytes=2 * GIB,
            nics=[VmNic(name="vnet0", rx_bytes=elapsed * rx, rx_packets=elapsed, rx_errs=0,
                        rx_drop=0, tx_bytes=elapsed * tx, tx_packets=elapsed, tx_errs=0,
                        tx_drop=0)],
            disks=[VmDisk(name="vda", rd_reqs=elapsed * 10, rd_bytes=elapsed * rd,
                          wr_reqs=elapsed * 5, wr_bytes=elapsed * wr)]))
    return samples


def two_disks(at: datetime, disks: list[int]) -> dict[str, Any]:
    body = backup_report(at, disks)
    for disk in body["disks"]:
        disk["total_bytes"] = 50 * GIB
    return body


async def rollups_agree(page: Any, url: str, panel: str) -> bool:
    """The panel draws what the rollup view answers: "no rollups yet" while it 404s (or has no
    window), bars once it holds windows."""
    status, body = await ahttp("GET", url)
    figures = page.locator(f"{panel} .rollups")
    windows = (body.get("windows", {}) if status == 200 and isinstance(body, dict) else {})
    wanted: int = await figures.count()
    if any(windows.values()):
        drawn: int = await figures.locator("svg.chart.windows").count()
        return drawn == wanted
    shown: int = await figures.get_by_text("no rollups yet").count()
    return shown == wanted


@dataclass(frozen=True)
class Fleet:
    """The ids one run posts (unique: the TSDB and the browser profile outlive a test)."""

    now: datetime
    stale_job: str
    job_id: str
    node_id: str
    vm_ids: dict[str, uuid.UUID]


async def fill(app_env: AppEnv, url: str) -> tuple[Fleet, dict[str, Any]]:
    """Post the fleet and wait until the views hold it (the page loads once); the open alert."""
    suffix = uuid.uuid4().hex[:4]
    fleet = Fleet(datetime.now(UTC), f"weekly-{suffix}", f"nightly-{suffix}", f"node-{suffix}",
                  {name: uuid.uuid4() for name in VMS})
    await post(f"{url}/api/v1/telemetry/backup/{fleet.stale_job}",
               backup_report(fleet.now - timedelta(minutes=2), [5 * GIB]))   # silent: stale
    await app_env.produce(app_env.topic("vm"), [
        (str(vm_uuid).encode(), sample.encode())
        for name, vm_uuid in fleet.vm_ids.items()
        for sample in vm_samples(name, vm_uuid, fleet.now)])
    for seconds, disks in ((20, [10 * GIB, 0]), (10, [30 * GIB, 12 * GIB])):
        await post(f"{url}/api/v1/telemetry/backup/{fleet.job_id}",
                   two_disks(fleet.now - timedelta(seconds=seconds), disks))
    await post(f"{url}/api/telemetry/snapshot", snapshot(fleet.node_id, 20.0, fleet.now))

    async def alert_recorded() -> list[dict[str, Any]]:
        status, body = await ahttp("GET", f"{url}/alerts?status=open&limit=10")
        assert status == 200, body
        return [a for a in body["alerts"]
                if a["kind"] == "backup.stale" and a["subject"] == fleet.stale_job]

    async def vms_with_rates() -> bool:
        _, body = await ahttp("GET", f"{url}/vms")
        held = body["vms"]
        return all(str(v) in held and held[str(v)]["cpu_percent"] is not None
                   for v in fleet.vm_ids.values())

    async def node_held() -> bool:
        status, _ = await ahttp("GET", f"{url}/nodes/{fleet.node_id}")
        return status == 200

    await wait_for(vms_with_rates, 30, what="both VMs' rates in /vms")
    await wait_for(node_held, 30, what="the node in its owner's table")
    [alert] = await wait_for(alert_recorded, 30, what="the backup.stale alert in /alerts")
    assert alert["cleared_at"] is None
    assert alert["detail"]["job_type"] == "backup"
    return fleet, alert


async def alerts_view_checks_its_query(url: str, alert: dict[str, Any]) -> None:
    for query in ("status=opened", "limit=0", "limit=1001", "limit=ten"):
        status, body = await ahttp("GET", f"{url}/alerts?{query}")
        assert status == 400 and "error" in body, (query, status, body)
    _, cleared = await ahttp("GET", f"{url}/alerts?status=cleared")
    assert alert["alert_id"] not in {a["alert_id"] for a in cleared["alerts"]}
    _, every = await ahttp("GET", f"{url}/alerts?status=all&limit=1000")
    assert alert in every["alerts"]


async def job_detail_follows_the_job(page: Any, url: str, fleet: Fleet) -> None:
    """Opened from the job list: per-disk progress, and speed/ETA kept while it is open."""
    await page.locator(f'[data-job="{fleet.job_id}"] a.name').click()
    detail = page.locator("#job-detail")
    await detail.locator('tr[data-disk="1"]').filter(has_text="24.0%").wait_for()
    assert "60.0%" in await detail.locator('tr[data-disk="0"]').inner_text()
    await post(f"{url}/api/v1/telemetry/backup/{fleet.job_id}",
               two_disks(fleet.now, [40 * GIB, 20 * GIB]))
    await detail.locator('tr[data-disk="0"]').filter(has_text="80.0%").wait_for(timeout=5000)
    assert "40.0%" in await detail.locator('tr[data-disk="1"]').inner_text()
    for chart in ("speed", "eta"):
        await detail.locator(f'svg.chart.{chart}[data-points="2"]').wait_for(timeout=5000)
        assert await detail.locator(f"svg.chart.{chart} circle").count() == 2
    _, job = await ahttp("GET", f"{url}/jobs/{fleet.job_id}")
    speed = f"{job['transfer_speed_bps'] / GIB:.1f} GiB/s"   # as the page writes GiB
    assert speed in await detail.locator(".series.speed figcaption").inner_text()
    await wait_for(lambda: rollups_agree(page, f"{url}/jobs/{fleet.job_id}/rollups",
                                         "#job-detail"), 10, what="the job's rollups drawn")
    await detail.screenshot(path=str(ARTIFACTS / "dashboard-job.png"))


async def test_dashboard_shows_vms_a_jobs_detail_and_the_open_alerts(
        app_env: AppEnv, page: Any) -> None:
    worker = await app_env.start_worker(**SETTINGS)
    fleet, alert = await fill(app_env, worker.url)
    await alerts_view_checks_its_query(worker.url, alert)
    await page.goto(f"{worker.url}/?refresh=600&poll=0.5&vms=1")
    ARTIFACTS.mkdir(exist_ok=True)

    # VMs: each VM's CPU, NIC and disk rates, from the counters' growth.
    for name, vm_uuid in fleet.vm_ids.items():
        row = page.locator(f'#vms tr[data-vm="{vm_uuid}"]')
        await row.filter(has_text=name).wait_for()
        for cell, text in EXPECTED_CELLS[name].items():
            assert await row.locator(f"td.{cell}").inner_text() == text, (name, cell)
    await page.locator("#vms-section").screenshot(path=str(ARTIFACTS / "dashboard-vms.png"))

    # Alerts: the open alert from PostgreSQL; its subject opens the job's detail.
    listed = page.locator('#alerts tr[data-kind="backup.stale"]').filter(has_text=fleet.stale_job)
    await listed.wait_for()
    assert await listed.get_attribute("data-alert") == alert["alert_id"]
    await page.locator("#alerts-section").screenshot(path=str(ARTIFACTS / "dashboard-alerts.png"))
    await listed.get_by_role("link", name=fleet.stale_job).click()
    await page.locator("#job-detail").filter(has_text="stale").locator(
        'tr[data-disk="0"]').wait_for()

    await job_detail_follows_the_job(page, worker.url, fleet)

    # Node detail: its rollups, the same way; closing leaves only the lists.
    await page.locator(f'[data-node="{fleet.node_id}"] .title a').click()
    await page.locator("#node-detail").filter(has_text="CPU 20.0%").wait_for()
    assert await page.locator("#job-detail").is_hidden()
    await wait_for(lambda: rollups_agree(page, f"{worker.url}/nodes/{fleet.node_id}/rollups",
                                         "#node-detail"), 10, what="the node's rollups drawn")
    await page.locator("#node-detail .close").click()
    await page.locator("#node-detail").wait_for(state="hidden")
