"""`fleetstream replay`: rebuild every table and projection from the raw topics.

Why it exists: the raw topics are the record. Replay runs a stream worker under a fresh Faust app id
(new consumer group, new changelog topics, so it starts from the first offset of every raw topic
and from empty tables), waits until that group has consumed everything that was in the topics when
replay started, and stops it. The PostgreSQL and InfluxDB sinks are idempotent upserts with a
monotonic guard, so the rebuilt rows equal what live processing wrote. Alerts re-raised during a
replay carry the same deterministic alert ids as the originals and are deduplicated by consumers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common import kafka
from common.settings import Settings
from fleetstream.commands import load_settings

RAW_TOPICS = ("node", "vm", "backup", "heartbeat", "alerts")
# Written by the replaying worker itself (the TSDB's points): drained once the raw topics are.
DERIVED_TOPICS = ("points",)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="rebuild tables and projections by replaying the raw topics")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="give up after this many seconds (default 3600)")
    parser.set_defaults(run=run)


async def end_offsets(settings: Settings, names: tuple[str, ...] = RAW_TOPICS
                      ) -> dict[TopicPartition, int]:
    """The end offset of every partition of the named topics that exist, now."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics([settings.topic(name) for name in names])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic["topic"], partition["partition"])
                  for topic in described if topic["error_code"] == 0
                  for partition in topic["partitions"]]
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(settings),
                                enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def remaining(settings: Settings, group: str, targets: dict[TopicPartition, int]) -> int:
    """How many records of `targets` the group has not committed yet."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(settings))
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(0, end - (committed[tp].offset if tp in committed else 0))
               for tp, end in targets.items())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _drain(worker: subprocess.Popen[bytes], settings: Settings, group: str,
           targets: dict[TopicPartition, int], deadline: float) -> bool:
    """Wait until `group` has committed every record of `targets`; False if it cannot."""
    while True:
        if worker.poll() is not None:
            print(f"replay worker exited with status {worker.returncode}", file=sys.stderr)
            return False
        left = asyncio.run(remaining(settings, group, targets)) if targets else 0
        if left == 0:
            return True
        if time.monotonic() > deadline:
            print(f"replay timed out with {left} records left", file=sys.stderr)
            return False
        time.sleep(1.0)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    targets = asyncio.run(end_offsets(settings))
    total = sum(targets.values())
    group = f"{settings.app_id}-replay-{int(time.time())}"
    print(f"replaying {total} records of {len(targets)} partitions as app id {group}")
    env = {**os.environ, "FLEETSTREAM_APP_ID": group, "FLEETSTREAM_WEB_PORT": str(_free_port())}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "fleetstream"), "worker"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + args.timeout
    try:
        if not _drain(worker, settings, group, targets, deadline):
            return 1
        # The TSDB pipeline follows the points the replay wrote: wait for it too.
        derived = asyncio.run(end_offsets(settings, DERIVED_TOPICS))
        if not _drain(worker, settings, group, derived, deadline):
            return 1
        print(f"replay complete: {total} records consumed, "
              f"{sum(derived.values())} derived records drained")
        return 0
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
