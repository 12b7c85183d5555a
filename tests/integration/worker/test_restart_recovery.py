"""A restarted worker serves exactly what its tables held before: every changelog record applied,
overwrites and tombstones included, up to the partitions' ends (`streams.bulk_recovery`, issue
12 item 5)."""

from __future__ import annotations

import re

from tests.integration.helpers import AppEnv, ahttp, unique, wait_for
from tests.integration.worker.test_heartbeats import heartbeat_body

# No worker goes inactive while the test runs: its state would change between the two views.
QUIET = {"FLEETSTREAM_WORKER_INACTIVE_SECONDS": "3600"}


async def _views(url: str, ids: list[str]) -> dict[str, tuple[int, object]]:
    return {worker_id: await ahttp("GET", f"{url}/telemetry/{worker_id}") for worker_id in ids}


async def test_a_restarted_worker_recovers_every_key_and_no_forgotten_one(
        app_env: AppEnv) -> None:
    worker = await app_env.start_worker(**QUIET)
    ids = [unique(f"recovered-{n}-") for n in range(12)]
    for round_ in range(3):  # every key overwritten twice
        for worker_id in ids:
            status, answer = await ahttp("POST", f"{worker.url}/api/heartbeat", heartbeat_body(
                worker_id, cpu_usage=float(round_), memory_usage=float(len(worker_id))))
            assert status == 202, answer
    forgotten = ids[::4]
    for worker_id in forgotten:
        assert app_env.run_cli("workers", "forget", worker_id).returncode == 0

    async def settled() -> dict[str, tuple[int, object]] | None:
        views = await _views(worker.url, ids)
        done = all(views[w][0] == (404 if w in forgotten else 200) for w in ids) and all(
            views[w][1]["cpu_usage"] == 2.0  # type: ignore[index]
            for w in ids if w not in forgotten)
        return views if done else None

    before = await wait_for(settled, 30, what="the last heartbeats and the forgets applied")
    worker.stop()

    # Another log file (start_worker waits for "Ready" in it) and port, the same app id.
    restarted = await app_env.start_worker(**QUIET)
    after = await _views(restarted.url, ids)
    assert after == before
    status, listed = await ahttp("GET", f"{restarted.url}/workers")
    assert status == 200
    assert set(listed) & set(ids) == set(ids) - set(forgotten)
    # The bulk read did the recovery, to the end of every partition: a state for every key and
    # a tombstone for every forgotten one at least (a batch writes a key's state once).
    bulk = re.findall(r"recovery\.bulk records=(\d+) cpu_s=\S+ left_partitions=(\d+)",
                      restarted.log())
    assert bulk, restarted.log()[-3000:]
    records = sum(int(n) for n, _ in bulk)
    assert records >= len(ids) + len(forgotten) and all(left == "0" for _, left in bulk)
    print(f"FIGURES restart recovery: {len(ids)} keys, {len(forgotten)} forgotten, "
          f"{records} changelog records read in bulk, views identical")
