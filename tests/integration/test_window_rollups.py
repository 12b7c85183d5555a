"""Event-time window rollups end to end: node snapshots and backup reports spread over minutes
(one late within expiry, one older than expiry) -> `GET /nodes/{id}/rollups` and
`GET /jobs/{id}/rollups`, the owner's answer from either of two workers, exact values."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from aiokafka.partitioner import murmur2

from tests.integration.backup.test_http_ingest import seed_body
from tests.integration.helpers import AppEnv, WorkerProcess, ahttp, unique, wait_for
from tests.integration.node.test_node_telemetry import SEED_BODY

MIB = 2**20
# A whole minute 15 minutes ago: every event is in the past (no clock-skew rejection) and well
# within the tables' retention.
BASE = (int(time.time()) // 60 - 15) * 60

# (offset s, cpu %, memory %, rx MiB/s) in posting order: the 5th is late within expiry (its
# minute still held), the 7th is older than every window the node still holds.
SNAPSHOTS = [(0, 10, 40, 1), (20, 30, 60, 3), (70, 50, 50, 2), (130, 20, 30, 4),
             (45, 40, 70, 2), (300, 60, 20, 5), (-400, 99, 99, 9)]
# (offset s, job bytes), the same shape.
REPORTS = [(0, 0), (30, 600), (70, 1200), (130, 3000), (45, 900), (300, 9000), (-400, 100)]


def at(offset_s: int) -> str:
    moment = datetime.fromtimestamp(BASE + offset_s, UTC)
    return moment.isoformat().replace("+00:00", "Z")


def figure(values: list[float]) -> dict[str, float]:
    return {"avg": sum(values) / len(values), "max": max(values)}


def node_window(start: int, size: int, members: list[int]) -> dict[str, Any]:
    """The window holding the SNAPSHOTS at these indexes."""
    chosen = [SNAPSHOTS[i] for i in members]
    return {"start": at(start), "end": at(start + size), "samples": len(chosen),
            "cpu_percent": figure([float(s[1]) for s in chosen]),
            "memory_percent": figure([float(s[2]) for s in chosen]),
            "network_rx_bytes_per_second": figure([float(s[3] * MIB) for s in chosen]),
            "network_tx_bytes_per_second": figure([float(MIB)] * len(chosen))}


def job_window(start: int, size: int, reports: int, transferred: int) -> dict[str, Any]:
    return {"start": at(start), "end": at(start + size), "reports": reports,
            "bytes": transferred, "bytes_per_second": transferred / size}


# The watermark ends at +300 s: tumbling windows ending after +0 s are held (expiry 300 s), and
# panes ending after -240 s (hopping windows need 4 minutes more): -400 s is dropped.
NODE_TUMBLING = [node_window(0, 60, [0, 1, 4]), node_window(60, 60, [2]),
                 node_window(120, 60, [3]), node_window(300, 60, [5])]
NODE_HOPPING = [
    node_window(-240, 300, [0, 1, 4]), node_window(-180, 300, [0, 1, 4, 2]),
    *(node_window(start, 300, [0, 1, 4, 2, 3]) for start in (-120, -60, 0)),
    node_window(60, 300, [2, 3, 5]), node_window(120, 300, [3, 5]),
    *(node_window(start, 300, [5]) for start in (180, 240, 300))]
JOB_TUMBLING = [job_window(0, 60, 3, 900), job_window(60, 60, 1, 0),
                job_window(120, 60, 1, 0), job_window(300, 60, 1, 0)]
JOB_HOPPING = [
    job_window(-240, 300, 3, 900), job_window(-180, 300, 4, 1200),
    *(job_window(start, 300, 5, 3000) for start in (-120, -60, 0)),
    job_window(60, 300, 3, 7800), job_window(120, 300, 2, 6000),
    *(job_window(start, 300, 1, 0) for start in (180, 240, 300))]


POST_TIMEOUT = 60.0  # an ingest answers once Kafka acknowledged: slow on a loaded machine
PARTITIONS = 4  # the app_env's FLEETSTREAM_PARTITIONS


def one_per_partition(prefix: str) -> list[str]:
    """Fresh keys, one on each partition (as Kafka's default partitioner places them)."""
    keys: dict[int, str] = {}
    while len(keys) < PARTITIONS:
        key = unique(prefix)
        keys.setdefault((murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS, key)
    return [keys[partition] for partition in sorted(keys)]


async def post_node(worker: WorkerProcess, node_id: str) -> None:
    for offset, cpu, memory, rx in SNAPSHOTS:
        body = {**SEED_BODY, "node_id": node_id, "timestamp": at(offset), "cpu_percent": cpu,
                "memory_percent": memory, "network_rx_rate_mbps": rx,
                "network_tx_rate_mbps": 1}
        status, answer = await ahttp("POST", f"{worker.url}/api/telemetry/snapshot", body,
                                     timeout=POST_TIMEOUT)
        assert status == 200, answer


async def post_job(worker: WorkerProcess, job_id: str) -> None:
    for offset, transferred in REPORTS:
        status, answer = await ahttp("POST", f"{worker.url}/api/v1/telemetry/backup/{job_id}",
                                     seed_body(at(offset), [transferred]), timeout=POST_TIMEOUT)
        assert status == 200, answer


async def test_rollups_of_nodes_and_jobs_count_late_events_and_drop_older_ones(
        app_env: AppEnv) -> None:
    first = await app_env.start_worker()
    second = await app_env.start_worker()
    # A key on every partition, so that each worker owns some and answers for the other's.
    nodes, jobs = one_per_partition("rollup-"), one_per_partition("rollup-job-")
    # One key's events in order (its partition keeps it); keys posted side by side.
    await asyncio.gather(*(post_node(first, node_id) for node_id in nodes),
                         *(post_job(second, job_id) for job_id in jobs))

    expected = {
        **{f"/nodes/{node_id}/rollups": {
            "node_id": node_id, "late_dropped": 1,
            "windows": {"tumbling_1m": NODE_TUMBLING, "hopping_5m": NODE_HOPPING}}
           for node_id in nodes},
        **{f"/jobs/{job_id}/rollups": {
            "job_id": job_id, "late_dropped": 1,
            "windows": {"tumbling_1m": JOB_TUMBLING, "hopping_5m": JOB_HOPPING}}
           for job_id in jobs},
    }

    async def answers() -> dict[tuple[str, str], Any]:
        seen = {}
        for worker in (first, second):
            for path in expected:
                status, body = await ahttp("GET", f"{worker.url}{path}", timeout=30)
                seen[worker.url, path] = body if status == 200 else status
        return seen

    last: dict[tuple[str, str], Any] = {}

    async def all_folded() -> bool:
        last.update(await answers())
        return all(isinstance(body, dict) and body["late_dropped"] == 1
                   and len(body["windows"]["tumbling_1m"]) == 4 for body in last.values())

    try:
        await wait_for(all_folded, 90, interval=1.0, what="every key's rollups folded")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answers: {last}") from None
    seen = last
    for (url, path), body in seen.items():
        assert body == expected[path], (url, path)

    for worker in (first, second):
        for path in ("/nodes/no-such-node/rollups", "/jobs/no-such-job/rollups"):
            status, body = await ahttp("GET", f"{worker.url}{path}")
            assert status == 404, body
            assert "no-such" in body["error"]

    # The late events are counted where an operator looks, by windowed table (one per key; a
    # batch re-delivered across the second worker's rebalance may count its own twice).
    metrics: list[str] = []
    for worker in (first, second):
        status, text = await ahttp("GET", f"{worker.url}/metrics")
        assert status == 200
        metrics.append(text)
    late = {table: sum(_counter(text, table) for text in metrics)
            for table in ("node_rollups", "backup_job_rollups")}
    assert late["node_rollups"] >= len(nodes) and late["backup_job_rollups"] >= len(jobs), late


def _counter(text: str, table: str) -> float:
    prefix = f'fleetstream_window_late_events_total{{table="{table}"}} '
    return sum(float(line[len(prefix):]) for line in text.splitlines()
               if line.startswith(prefix))


