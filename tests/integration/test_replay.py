"""`fleetstream replay`: every projection rebuilt from the raw topics equals the live one.

Every projection means: the backup job and disk rows, node history, the workers table, the
alerts table, and the TSDB series of this test's jobs, node and worker. Node and worker series
have a point per event and must be identical. The backup_job series has a point per job per
BATCH (a fold of whatever reports the batch held), so its intermediate points depend on how the
live and the replaying worker happened to batch; only each job's final point is comparable.

"""

from __future__ import annotations

import asyncio
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.integration.helpers import AppEnv, ahttp, tsdb_export, unique, wait_for
from tests.integration.node.test_node_telemetry import SEED_BODY
from tests.integration.worker.test_heartbeats import heartbeat_body

GIB = 1024**3
JOBS = 5
TABLES = {"backup_jobs": "job_id", "backup_disks": "job_id, disk_index",
          "telemetry_history": "node_id, timestamp", "workers": "worker_id",
          "alerts": "alert_id"}
MEASUREMENTS = ("backup_job_", "node_", "worker_")
# A worker falls silent during the test: its inactivity alert is one of the projections. The
# jobs report 2025 event times, so a sweep between two of a job's reports would find it stale (a
# year of silence) and clear it at the next: staleness is out of this test's reach.
SETTINGS = {"FLEETSTREAM_WORKER_INACTIVE_SECONDS": "2", "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5",
            "FLEETSTREAM_STALE_AFTER_SECONDS": "1e9", "FLEETSTREAM_STALLED_AFTER_SECONDS": "2e9"}

Series = dict[frozenset[tuple[str, str]], list[tuple[int, float]]]


def report(second: int, disk_bytes: list[int], status: str = "running") -> dict[str, Any]:
    return {"job_type": "backup", "status": status, "current_phase": "transferring",
            "bytes_transferred": 0, "total_bytes": 4 * GIB,
            "disks": [{"disk_index": i, "bytes_transferred": b, "status": "transferring"}
                      for i, b in enumerate(disk_bytes)],
            "timestamp": f"2025-10-10T14:35:{second:02d}Z"}


async def snapshot(app_env: AppEnv) -> dict[str, list[asyncpg.Record]]:
    return {table: await app_env.pg(f"SELECT * FROM {table} ORDER BY {order}")
            for table, order in TABLES.items()}


def selectors(run: str) -> list[str]:
    """This test's series: the TSDB is shared, its keys (job, node, worker ids) start with `run`."""
    return [f'{{__name__=~"backup_job_.*", job_id=~"{run}.*"}}',
            f'{{__name__=~"node_.*", node_id=~"{run}.*"}}',
            f'{{__name__=~"worker_.*", worker_id=~"{run}.*"}}']


async def series(app_env: AppEnv, run: str) -> Series:
    """This test's TSDB samples: (name and labels) -> sorted (timestamp, value)."""
    found: Series = {}
    for selector in selectors(run):
        exported = await asyncio.to_thread(tsdb_export, app_env.env["INFLUX_URL"], selector)
        found.update({frozenset(s["metric"].items()):
                      sorted(zip(s["timestamps"], s["values"], strict=True)) for s in exported})
    return found


def delete_series(app_env: AppEnv, run: str) -> None:
    for selector in selectors(run):
        query = urllib.parse.urlencode({"match[]": selector})
        request = urllib.request.Request(
            f"{app_env.env['INFLUX_URL']}/api/v1/admin/tsdb/delete_series?{query}",
            method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204, response.status


def comparable(found: Series) -> dict[Any, Any]:
    """Every node and worker sample; the newest sample of each backup job's measurement."""
    exact = {key: samples for key, samples in found.items()
             if not dict(key)["__name__"].startswith("backup_job_")}
    newest: dict[tuple[str, str], tuple[int, float, str]] = {}
    for key, samples in found.items():
        labels = dict(key)
        if labels["__name__"].startswith("backup_job_"):
            ident = (labels["__name__"], labels["job_id"])
            last = (*samples[-1], labels["status"])
            newest[ident] = max(newest.get(ident, last), last)
    return {"exact": exact, "backup_job_final": newest}


async def test_replay_rebuilds_identical_rows_alerts_and_series(app_env: AppEnv) -> None:
    worker = await app_env.start_worker(**SETTINGS)
    run = unique("replay")
    jobs = [f"{run}-job-{n}" for n in range(JOBS)]
    for job_id in jobs:
        url = f"{worker.url}/api/v1/telemetry/backup/{job_id}"
        for second, disks, status in ((10, [GIB, 0], "running"), (20, [2 * GIB, GIB], "running"),
                                      (30, [2 * GIB, 2 * GIB], "completed")):
            status_code, answer = await ahttp("POST", url, report(second, disks, status))
            assert status_code == 200, answer
    node_id = f"{run}-node"
    at = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
    for step in range(3):  # three snapshots: the later ones have network rates
        body = {**SEED_BODY, "node_id": node_id,
                "timestamp": (at + timedelta(seconds=10 * step)).isoformat().replace(
                    "+00:00", "Z"),
                "network_rx_bytes": 2_345_678 + step * 1_000_000}
        status_code, answer = await ahttp("POST", f"{worker.url}/api/telemetry/snapshot", body)
        assert status_code == 200, answer
    worker_id = f"{run}-gpu"
    status_code, answer = await ahttp("POST", f"{worker.url}/api/heartbeat",
                                      heartbeat_body(worker_id))
    assert status_code == 202, answer

    async def everything_projected() -> bool:
        try:
            done = await app_env.pg("SELECT count(*) FROM backup_jobs WHERE status = 'completed'")
            nodes = await app_env.pg("SELECT count(*) FROM telemetry_history")
            silent = await app_env.pg("SELECT count(*) FROM workers WHERE NOT is_active")
            alerts = await app_env.pg("SELECT count(*) FROM alerts")
        except asyncpg.exceptions.UndefinedTableError:  # the worker migrates on first write
            return False
        # Two alerts: the worker's inactivity, and the node's silence (its snapshots are from
        # 2025, long past FLEETSTREAM_NODE_SILENT_SECONDS).
        return (done[0][0], nodes[0][0], silent[0][0], alerts[0][0]) == (JOBS, 3, 1, 2)

    await wait_for(everything_projected, 60, what="every row and the two alerts")

    previous: list[Series] = []

    async def series_settled() -> Series | None:
        # Complete (every measurement) and no longer changing between two polls.
        now = await series(app_env, run)
        names = {dict(key)["__name__"] for key in now}
        settled = bool(previous) and previous[-1] == now and all(
            any(name.startswith(m) for name in names) for m in MEASUREMENTS)
        previous.append(now)
        return now if settled else None

    live_series = await wait_for(series_settled, 60, 1.0, what="the live TSDB series")
    live = await snapshot(app_env)
    assert all(live.values()), {table: len(rows) for table, rows in live.items()}
    worker.stop()

    await app_env.pg("TRUNCATE " + ", ".join(TABLES))
    await asyncio.to_thread(delete_series, app_env, run)
    assert await series(app_env, run) == {}
    result = await asyncio.to_thread(app_env.run_cli, "replay", "--timeout", "120", timeout=180,
                                     **SETTINGS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replay complete" in result.stdout

    rebuilt = await snapshot(app_env)
    assert len(rebuilt["backup_jobs"]) == JOBS
    for table in TABLES:
        assert rebuilt[table] == live[table], table

    assert live_series is not None
    expected = comparable(live_series)

    async def series_rebuilt() -> bool:
        return comparable(await series(app_env, run)) == expected

    await wait_for(series_rebuilt, 30, what="the TSDB series rebuilt by the replay")
