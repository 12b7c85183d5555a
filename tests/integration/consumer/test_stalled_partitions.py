"""A partition whose tail Faust dropped is read again (`streams.stalled_partitions`).

Real broker, real Faust consumer: `stall_app.py` leaves the consumer's read offset past records
it never delivered (what a fetch straddling a rebalance leaves), then the records produced after
that are fetched and dropped by Faust itself. Side by side: the same app without the watch
(the fault is real and Faust alone never heals it) and with it (every record delivered).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.helpers import base_env, unique, wait_for

pytestmark = pytest.mark.integration

APP = Path(__file__).with_name("stall_app.py")
BEFORE, AFTER = 20, 30


class StallApp:
    """One `stall_app.py` subprocess and the offsets it printed."""

    def __init__(self, topic: str, env: dict[str, str], log: Path, watch: bool,
                 before: int = BEFORE) -> None:
        self.log_path = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(APP), topic, str(before), *(["--watch"] if watch else [])],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def injected(self) -> bool:
        assert self.proc.poll() is None, f"stall_app exited:\n{self.log()}"
        return f"injected {BEFORE}" in self.log()

    def group(self) -> str | None:
        found = re.search(r"group (stall-[0-9a-f]+)", self.log())
        return found.group(1) if found else None

    def processed(self) -> set[int]:
        return {int(n) for n in re.findall(r"processed (\d+)", self.log())}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
async def topics(stack_env: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    names = (unique("stall-bare-"), unique("stall-watched-"))
    await admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1)
                               for n in names])
    try:
        yield names
    finally:
        await admin.delete_topics(list(names))
        await admin.close()


async def _produce(bootstrap: str, topic: str, start: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(start, start + count):
            await producer.send(topic, key=b"k", value=str(n).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def test_a_tail_faust_dropped_is_read_again_only_with_the_watch(
        stack_env: dict[str, str], topics: tuple[str, str], tmp_path: Path) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    env = base_env(stack_env, tmp_path)
    for topic in topics:
        await _produce(bootstrap, topic, 0, BEFORE)
    bare = StallApp(topics[0], env, tmp_path / "bare.log", watch=False)
    watched = StallApp(topics[1], env, tmp_path / "watched.log", watch=True)
    try:
        for app in (bare, watched):
            await wait_for(lambda app=app: _async(app.injected()), 90,
                           what=f"the read offset moved past the tail in {app.log_path.name}")
            assert app.processed() == set(range(BEFORE)), app.log()
        for topic in topics:
            await _produce(bootstrap, topic, BEFORE, AFTER)

        everything = set(range(BEFORE + AFTER))
        await wait_for(lambda: _async(watched.processed() == everything), 30,
                       what="every record delivered with the watch")
        assert "consumer.stalled_reread" in watched.log()
        print(f"\nwatched: {len(watched.processed())} of {BEFORE + AFTER} records delivered")

        # Longer than the watched app needed: Faust alone fetched and dropped them all.
        await asyncio.sleep(5)
        assert bare.processed() == set(range(BEFORE)), bare.log()
        assert "consumer.stalled_reread" not in bare.log()
        print(f"without the watch: {len(bare.processed())} of {BEFORE + AFTER} delivered")
    finally:
        bare.stop()
        watched.stop()


async def _async(value: bool) -> bool:
    return value


async def test_another_producers_transaction_markers_are_committed_over(
        stack_env: dict[str, str], topics: tuple[str, str], tmp_path: Path) -> None:
    """Offsets no fetch delivers (a transactional producer's commit markers) are not a hole the
    worker waits on, nor a stall it reads again for ever: the markers between records are
    counted done after one re-read (`consumer.head_hole_accepted`), and the one at the end is
    read again at most once."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = topics[0]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=unique("tx-"))
    await producer.start()
    try:
        for batch in range(3):
            async with producer.transaction():
                for n in range(5):
                    await producer.send(topic, key=b"k", value=f"{batch}-{n}".encode())
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await reader.start()
    end = (await reader.end_offsets([tp]))[tp]
    await reader.stop()
    assert end == 18  # 15 records, a commit marker after each 5 (offsets 5, 11, 17)
    app = StallApp(topic, base_env(stack_env, tmp_path), tmp_path / "tx.log", watch=True,
                   before=-1)
    try:
        group = await wait_for(lambda: _async(app.group()), 90, what="the app's group")
        await wait_for(lambda: _async(len(app.processed()) == 15), 60,
                       what="the 15 transactional records delivered")

        async def committed() -> int | None:
            probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                     enable_auto_commit=False)
            await probe.start()
            try:
                offset: int | None = await probe.committed(tp)
                return offset
            finally:
                await probe.stop()

        # Past the markers at 5 and 11; the one at 17 is never delivered, so never acked.
        await wait_for(lambda: _at(committed(), end - 1), 120, 1,
                       what=f"the group's commit past the markers, at {end - 1}")
        # The marker at the end: read again at most once, then left alone (or never stalled,
        # while the last record is still held).
        await asyncio.sleep(8)  # four stall times of the app
        rereads = app.log().count("consumer.stalled_reread")
        assert rereads <= 1, app.log()
        await asyncio.sleep(6)
        assert app.log().count("consumer.stalled_reread") == rereads, app.log()
        assert "consumer.head_hole_accepted" in app.log()
        print(f"\ncommitted {end - 1} of {end} (markers at 5 and 11 counted done); "
              f"stall re-reads: {rereads}")
    finally:
        app.stop()


async def _at(offset: Awaitable[int | None], wanted: int) -> bool:
    return await offset == wanted
