"""Heartbeats end to end: emitters -> Kafka -> stream worker(s) -> HTTP, CLI, PostgreSQL, TSDB."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, ahttp, tsdb_export, wait_for

# 8 s of silence with 1 s emitters: a loaded machine delaying a few beats must not make a running
# emitter inactive (4 s did); a stopped one still goes inactive well within the waits below.
INACTIVE = {"FLEETSTREAM_WORKER_INACTIVE_SECONDS": "8", "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}


def start_emitter(app_env: AppEnv, worker_id: str) -> subprocess.Popen[bytes]:
    log = (app_env.tmp / f"emitter-{worker_id}.log").open("ab")
    return subprocess.Popen([FLEETSTREAM, "heartbeat", "--worker-id", worker_id, "--interval", "1"],
                            env=app_env.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(20)


async def workers_view(url: str) -> dict[str, Any]:
    status, body = await ahttp("GET", f"{url}/workers")
    assert status == 200, body
    workers: dict[str, Any] = body
    return workers


async def worker_alerts(app_env: AppEnv, expect: int, timeout: float = 8.0
                        ) -> list[dict[str, Any]]:
    return [a for a in await app_env.consume_json("alerts", expect, timeout)
            if a["kind"] == "worker.inactive"]


def heartbeat_body(worker_id: str, **overrides: Any) -> dict[str, Any]:
    return {"worker_id": worker_id, "cpu_usage": 12.5, "memory_usage": 40.0, "gpu_usage": None,
            "running_tasks": [{"task_id": "t-1", "name": "train", "progress_percent": 30}],
            "interval_seconds": 1, **overrides}


async def test_two_emitters_stop_and_restart_one(app_env: AppEnv) -> None:
    # Unique ids: the TSDB is shared by every test run.
    box1, box2 = (f"gpu-box-{n}-{uuid.uuid4().hex[:6]}" for n in (1, 2))
    worker = await app_env.start_worker(**INACTIVE)
    emitters = {w: start_emitter(app_env, w) for w in (box1, box2)}
    try:
        await wait_for(
            lambda: _all_active(worker.url, {box1, box2}), 40,
            what="both workers active in /workers")
        status, one = await ahttp("GET", f"{worker.url}/telemetry/{box1}")
        assert status == 200 and one["is_active"] and one["worker_id"] == box1
        assert 0 <= one["cpu_usage"] <= 100 and one["running_tasks"] == []
        _, everything = await ahttp("GET", f"{worker.url}/telemetry")
        assert set(everything) == {box1, box2}

        cli = app_env.run_cli("workers", FLEETSTREAM_WEB_PORT=str(worker.port))
        assert cli.returncode == 0, cli.stderr
        assert box1 in cli.stdout and "2 workers, 2 active" in cli.stdout
        cli = app_env.run_cli("status", box2, FLEETSTREAM_WEB_PORT=str(worker.port))
        assert cli.returncode == 0 and "status          active" in cli.stdout, cli

        rows = await wait_for(lambda: app_env.pg(
            "SELECT worker_id, is_active FROM workers WHERE is_active ORDER BY worker_id"),
            what="both workers active in PostgreSQL")
        assert [r["worker_id"] for r in rows] == [box1, box2]
        series = await wait_for(lambda: asyncio.to_thread(
            tsdb_export, app_env.env["INFLUX_URL"],
            f'{{__name__="worker_cpu_usage", worker_id="{box1}"}}'),
            what="worker series in the TSDB")
        assert len(series[0]["values"]) >= 1

        stop(emitters.pop(box2))
        await wait_for(lambda: _is_active(worker.url, box2, False), 40,
                       what=f"{box2} inactive")
        alerts = await worker_alerts(app_env, 1, timeout=15)
        assert [(a["subject"], a["state"]) for a in alerts] == [(box2, "raised")]
        rows = await wait_for(lambda: app_env.pg(
            "SELECT is_active FROM workers WHERE worker_id = $1 AND NOT is_active", box2),
            what="gpu-box-2 inactive in PostgreSQL")
        assert (await workers_view(worker.url))[box1]["is_active"]

        emitters[box2] = start_emitter(app_env, box2)
        await wait_for(lambda: _is_active(worker.url, box2, True), 30,
                       what="gpu-box-2 active again")
        alerts = await worker_alerts(app_env, 2)
        assert [(a["subject"], a["state"]) for a in alerts] == [
            (box2, "raised"), (box2, "cleared")]
        assert len(await worker_alerts(app_env, 3, timeout=3)) == 2, "one alert per transition"
    finally:
        for proc in emitters.values():
            stop(proc)


async def _all_active(url: str, ids: set[str]) -> bool:
    workers = await workers_view(url)
    return set(workers) == ids and all(w["is_active"] for w in workers.values())


async def _is_active(url: str, worker_id: str, active: bool) -> bool:
    status, body = await ahttp("GET", f"{url}/telemetry/{worker_id}")
    return status == 200 and body["is_active"] is active


async def test_unknown_worker_and_malformed_heartbeat(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    status, body = await ahttp("GET", f"{worker.url}/telemetry/no-such-worker")
    assert status == 404 and "no-such-worker" in body["error"]
    cli = app_env.run_cli("status", "no-such-worker", FLEETSTREAM_WEB_PORT=str(worker.port))
    assert cli.returncode == 1 and "unknown worker" in cli.stderr

    status, body = await ahttp("POST", f"{worker.url}/api/heartbeat",
                               heartbeat_body("w-bad", cpu_usage=140, running_tasks="x"))
    assert status == 422
    fields = {e["field"] for e in body["errors"]}
    assert {"cpu_usage", "running_tasks"} <= fields
    letter = (await app_env.consume_json("deadletter", 1, timeout=8))[0]
    assert letter["origin_endpoint"] == "/api/heartbeat" and "cpu_usage" in letter["error"]

    status, body = await ahttp("POST", f"{worker.url}/api/heartbeat", heartbeat_body("w-ok"))
    assert status == 202 and body["worker_id"] == "w-ok"
    await wait_for(lambda: _is_active(worker.url, "w-ok", True), 20, what="w-ok via HTTP")
    _, one = await ahttp("GET", f"{worker.url}/telemetry/w-ok")
    assert one["running_tasks"][0]["task_id"] == "t-1" and one["cpu_usage"] == 12.5

    # A heartbeat that bypassed the HTTP checks is dead-lettered by the stream worker.
    await app_env.produce(app_env.topic("heartbeat"), [(b"w-raw", b'{"worker_id": "w-raw"}')])
    letters = await app_env.consume_json("deadletter", 2, timeout=20)
    assert [letter.get("origin_topic") for letter in letters][1:] == [app_env.topic("heartbeat")]


async def test_two_stream_workers_answer_for_every_worker(app_env: AppEnv) -> None:
    first = await app_env.start_worker()
    second = await app_env.start_worker()
    ids = [f"w-{uuid.uuid4().hex[:6]}" for _ in range(10)]
    for worker_id in ids:
        status, _ = await ahttp("POST", f"{first.url}/api/heartbeat", heartbeat_body(worker_id))
        assert status == 202

    async def complete(url: str) -> bool:
        return set(await workers_view(url)) == set(ids)

    await wait_for(lambda: complete(first.url), 40, what="/workers complete on the first")
    assert await complete(second.url)
    for url in (first.url, second.url):
        _, everything = await ahttp("GET", f"{url}/telemetry")
        assert set(everything) == set(ids)
        for worker_id in ids:
            status, body = await ahttp("GET", f"{url}/telemetry/{worker_id}")
            assert status == 200 and body["worker_id"] == worker_id, (url, worker_id, body)
    # Each stream worker's own part: both non-empty, disjoint, and together every worker.
    parts = [set(await _local(first.url)), set(await _local(second.url))]
    assert all(parts), f"a stream worker owns none of the workers: {parts}"
    assert not parts[0] & parts[1], f"owned by both: {parts[0] & parts[1]}"
    assert parts[0] | parts[1] == set(ids)


async def _local(url: str) -> dict[str, Any]:
    status, body = await ahttp("GET", f"{url}/workers?scope=local")
    assert status == 200 and isinstance(body, dict), (status, body)
    local: dict[str, Any] = body
    return local


async def test_inactivity_is_raised_once_across_stream_worker_restarts(app_env: AppEnv) -> None:
    worker = await app_env.start_worker(**INACTIVE)
    status, _ = await ahttp("POST", f"{worker.url}/api/heartbeat", heartbeat_body("w-r"))
    assert status == 202
    await wait_for(lambda: _is_active(worker.url, "w-r", True), 20, what="w-r active")
    worker.stop()
    # w-r falls silent while no stream worker runs; the restarted one raises it, once.
    worker = await app_env.start_worker(**INACTIVE)
    await wait_for(lambda: _is_active(worker.url, "w-r", False), 40, what="w-r inactive")
    assert [a["state"] for a in await worker_alerts(app_env, 1)] == ["raised"]
    worker.stop()
    worker = await app_env.start_worker(**INACTIVE)
    await wait_for(lambda: _is_active(worker.url, "w-r", False), 20, what="w-r restored")
    status, _ = await ahttp("POST", f"{worker.url}/api/heartbeat", heartbeat_body("w-r"))
    await wait_for(lambda: _is_active(worker.url, "w-r", True), 20, what="w-r active again")
    alerts = await worker_alerts(app_env, 3, timeout=3)
    assert [a["state"] for a in alerts] == ["raised", "cleared"]


async def test_regression_a_running_task_without_task_id_is_listed_with_a_derived_id(
        app_env: AppEnv) -> None:
    """Issue 10 item 14: one task without `task_id` used to reject the whole heartbeat (422)."""
    worker = await app_env.start_worker()
    posted, raw = (f"w-noid-{n}-{uuid.uuid4().hex[:6]}" for n in (1, 2))
    tasks: list[dict[str, Any]] = [{"task_id": "t-1", "name": "train"},
                                   {"name": "eval", "progress_percent": 5}]
    status, body = await ahttp("POST", f"{worker.url}/api/heartbeat",
                               heartbeat_body(posted, running_tasks=tasks))
    assert status == 202, body
    # The same body produced straight to the topic (an emitter of its own) is read alike.
    record = {**heartbeat_body(raw, running_tasks=tasks), "schema": "worker.heartbeat/1",
              "event_id": str(uuid.uuid4()), "source": "test",
              "ts": datetime.now(UTC).isoformat()}
    await app_env.produce(app_env.topic("heartbeat"), [(raw.encode(), json.dumps(record).encode())])

    for worker_id in (posted, raw):
        one = await wait_for(partial(_telemetry, worker.url, worker_id), 20,
                             what=f"{worker_id} listed")
        listed = [(t["task_id"], t["name"]) for t in one["running_tasks"]]
        assert listed[0] == ("t-1", "train") and listed[1][1] == "eval", listed
        assert listed[1][0].startswith("task-"), listed
    _, again = await ahttp("GET", f"{worker.url}/telemetry/{posted}")
    status, beat = await ahttp("POST", f"{worker.url}/api/heartbeat",
                               heartbeat_body(posted, running_tasks=[
                                   {**tasks[1], "progress_percent": 60}]))
    assert status == 202, beat

    async def progressed() -> Any:
        _, now = await ahttp("GET", f"{worker.url}/telemetry/{posted}")
        tasks_now = now["running_tasks"]
        return len(tasks_now) == 1 and tasks_now[0]["progress_percent"] == 60 and tasks_now
    [moved] = await wait_for(progressed, 20, what="the task's progress")
    assert moved["task_id"] == again["running_tasks"][1]["task_id"], "the id stays put"


async def _telemetry(url: str, worker_id: str) -> dict[str, Any]:
    status, body = await ahttp("GET", f"{url}/telemetry/{worker_id}")
    found: dict[str, Any] = body if status == 200 else {}
    return found
