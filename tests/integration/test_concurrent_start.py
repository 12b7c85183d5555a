"""Two stream workers started at the same moment: one schema migration, a shared split, no errors.

Both processes are spawned together, so they join the consumer group in the same rebalance and
make their first PostgreSQL writes (which migrate the schema) at about the same time; the
migration's advisory lock must let exactly one apply each migration.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

from tests.integration.helpers import REPO, AppEnv, WorkerProcess, ahttp, free_port, wait_for
from tests.integration.worker.test_heartbeats import heartbeat_body

MIGRATIONS = sorted(p.name.removesuffix(".sql") for p in (REPO / "streams" / "migrations").glob(
    "*.sql"))


async def test_two_workers_starting_together_migrate_once_and_split_the_work(
        app_env: AppEnv) -> None:
    pair = [WorkerProcess({**app_env.env, "FLEETSTREAM_WEB_PORT": str(free_port())},
                          app_env.tmp / f"worker-together-{n}.log") for n in range(2)]
    app_env.workers.extend(pair)
    for worker in pair:
        worker.start()
    await asyncio.gather(*(worker.wait_ready(120) for worker in pair))

    ids = [f"w-{uuid.uuid4().hex[:6]}" for _ in range(12)]
    for worker_id in ids:
        status, answer = await ahttp("POST", f"{pair[0].url}/api/heartbeat",
                                     heartbeat_body(worker_id))
        assert status == 202, answer

    async def all_rows() -> bool:
        rows = await app_env.rows("SELECT worker_id FROM workers")
        return sorted(r["worker_id"] for r in rows) == sorted(ids)

    await wait_for(all_rows, 60, what="a row for every compute worker")
    versions = await app_env.pg("SELECT version FROM schema_migrations ORDER BY version")
    assert [v["version"] for v in versions] == MIGRATIONS
    logs = [worker.log() for worker in pair]
    applied = sorted(line.split("version=")[1].split()[0] for log in logs
                     for line in log.splitlines() if "postgres.migrated version=" in line)
    assert applied == MIGRATIONS, "each migration applied by exactly one of the two workers"

    parts: list[set[str]] = []
    for worker in pair:
        part = await wait_for(functools.partial(own_part, worker.url), 30,
                              what=f"{worker.url}'s own part")
        parts.append(set(part or {}))
    assert not parts[0] & parts[1] and parts[0] | parts[1] == set(ids), parts
    for worker, log in zip(pair, logs, strict=True):
        assert "Traceback" not in log, f"{worker.url}:\n{log[-3000:]}"


async def own_part(url: str) -> dict[str, Any] | None:
    """The compute workers this stream worker owns; None while it owns none (or errs)."""
    status, body = await ahttp("GET", f"{url}/workers?scope=local")
    return body if status == 200 and body else None
