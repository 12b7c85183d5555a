"""The node agent's delivery guarantees: through a Kafka outage, and when its outbox overflows.

The shared broker must never be stopped (other tests use it), so the outage test runs its own
private broker (the `private_kafka` fixture) and stops and restarts that one, with a worker and
an agent both pointed at it.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fleetstream.stack.services import Kafka
from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, free_port, unique, wait_for
from tests.integration.node.support import history, history_of_at_least

OUTAGE_SECONDS = 32


def start_agent(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([FLEETSTREAM, "node-agent", *args], env=env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_agent(agent: subprocess.Popen[bytes]) -> int:
    agent.send_signal(signal.SIGTERM)
    return agent.wait(30)


async def test_every_snapshot_taken_during_a_kafka_outage_lands_once_in_history(
        private_kafka: Kafka, app_env: AppEnv) -> None:  # this order: see `private_kafka`
    """At-least-once delivery plus an idempotent sink: one history row per snapshot taken.

    Kafka itself may hold a snapshot twice (the publisher replaces a stalled producer, and the new
    one resends what was not acknowledged); those copies carry the same `event_id`, and the
    history table keeps one row for them.
    """
    bootstrap = private_kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    await app_env.start_worker(KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    node_id = unique("outage-")
    log = app_env.tmp / "agent.log"
    agent = start_agent(app_env.with_overrides(KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                                               FLEETSTREAM_NODE_ID=node_id),
                        log, "--interval", "1")
    try:
        await wait_for(lambda: history_of_at_least(app_env, node_id, 3), 60,
                       what="the agent's first rows")
        outage_start = datetime.now(UTC)
        await asyncio.to_thread(private_kafka.stop)
        await asyncio.sleep(OUTAGE_SECONDS)
        outage_end = datetime.now(UTC)
        await asyncio.to_thread(private_kafka.start)

        async def caught_up() -> bool:
            rows = await history(app_env, node_id)
            return bool(rows) and rows[-1]["timestamp"] > outage_end + timedelta(seconds=2)

        await wait_for(caught_up, 90, 1.0, what="the backlog to reach PostgreSQL")
    finally:
        assert stop_agent(agent) == 0, log.read_text()

    records = [r for r in await app_env.consume_json("node", expect=10**6, timeout=8,
                                                     bootstrap=bootstrap)
               if r["node_id"] == node_id]
    published = {r["ts"] for r in records}
    # A redelivered copy is the same event, never a second snapshot of the same moment.
    assert len({r["event_id"] for r in records}) == len(published)
    assert len(records) >= len(published)

    async def all_rows() -> list[datetime]:
        rows = [r["timestamp"] for r in await history(app_env, node_id)]
        return rows if len(rows) >= len(published) else []

    stamps = await wait_for(all_rows, 30, what="a row for every published snapshot")
    assert len(stamps) == len(published), "one row per snapshot, whatever Kafka holds twice"
    assert {s.isoformat().replace("+00:00", "Z") for s in stamps} == published
    during = [s for s in stamps if outage_start < s < outage_end]
    assert len(during) >= OUTAGE_SECONDS - 3, f"only {len(during)} snapshots during the outage"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    # 1 s interval; the agent skips a tick it missed, so one slow collection makes a 2 s gap.
    assert max(gaps) < 3.0, f"a snapshot is missing: largest gap {max(gaps):.1f}s"
    assert "publisher.delivery_failed" in log.read_text()


async def test_outbox_overflow_drops_the_oldest_and_says_so(app_env: AppEnv) -> None:
    await app_env.start_worker()
    node_id = unique("overflow-")
    offline = app_env.with_overrides(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
                                     FLEETSTREAM_NODE_ID=node_id,
                                     FLEETSTREAM_OUTBOX_MAX_EVENTS="3")
    log = app_env.tmp / "agent.log"

    once = await asyncio.to_thread(
        subprocess.run, [FLEETSTREAM, "node-agent", "--once", "--timeout", "2"], env=offline,
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert once.returncode == 1, once.stderr  # Kafka unreachable: not delivered

    agent = start_agent(offline, log, "--interval", "0.2")

    async def dropped() -> bool:
        return "outbox.dropped" in log.read_text()

    await wait_for(dropped, 60, what="the agent to drop its oldest snapshot")
    assert stop_agent(agent) == 0, log.read_text()

    online = {**offline, "KAFKA_BOOTSTRAP_SERVERS": app_env.bootstrap}
    delivered = await asyncio.to_thread(
        subprocess.run, [FLEETSTREAM, "node-agent", "--once"], env=online, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=False)
    assert delivered.returncode == 0, delivered.stderr

    records = [r for r in await app_env.consume_json("node", expect=4)
               if r["node_id"] == node_id]
    # The three newest offline snapshots (the outbox's bound) and the one taken online.
    assert len(records) == 4
    newest = max(records, key=lambda r: str(r["ts"]))
    offline_taken = 1 + int(log.read_text().split("node.stopped cycles=")[1].split()[0])
    assert newest["outbox_dropped_total"] == offline_taken - 3, newest
    rows = await wait_for(lambda: history_of_at_least(app_env, node_id, 4), 30,
                          what="the delivered snapshots' rows")
    assert sorted(r["timestamp"].isoformat().replace("+00:00", "Z") for r in rows) == sorted(
        r["ts"] for r in records)
