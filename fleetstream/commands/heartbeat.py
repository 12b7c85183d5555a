"""`fleetstream heartbeat --worker-id ID [--interval 5] [--once]`: beat for a compute worker.

Publishes this machine's CPU/memory (psutil) and GPU (nvidia-smi, if present) usage as
`worker.heartbeat/1` to `telemetry.heartbeat` through the durable outbox, every `--interval`
seconds until SIGINT/SIGTERM. `--once` sends one heartbeat, waits (up to `--flush-timeout`) for
Kafka to acknowledge it and exits 1 if it did not (it stays in the outbox for the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from common.settings import HEARTBEAT, Settings
from fleetstream.commands import load_settings, positive_seconds, stop_on_signals
from producers.heartbeat import HeartbeatEmitter
from producers.publisher import Publisher, outbox_name

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("heartbeat", help="send a compute worker's heartbeats")
    parser.add_argument("--worker-id", required=True, help="the worker's id (its Kafka key)")
    parser.add_argument("--interval", type=positive_seconds, default=5.0, metavar="SECONDS",
                        help="seconds between heartbeats (default 5)")
    parser.add_argument("--once", action="store_true", help="send one heartbeat and exit")
    parser.add_argument("--flush-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for Kafka to acknowledge on exit (default 10)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(HEARTBEAT)
    return asyncio.run(_main(settings, args.worker_id, args.interval, once=args.once,
                             flush_timeout=args.flush_timeout))


async def _main(settings: Settings, worker_id: str, interval: float, *, once: bool,
                flush_timeout: float) -> int:
    publisher = Publisher(outbox_name("heartbeat", worker_id), settings)
    await publisher.start()
    emitter = HeartbeatEmitter(worker_id, publisher, settings.topic("heartbeat"),
                               interval=interval)
    log.info("heartbeat.starting worker_id=%s topic=%s interval=%gs once=%s",
             worker_id, settings.topic("heartbeat"), interval, once)
    try:
        if once:
            await emitter.beat()
        else:
            sent = await emitter.run(stop_on_signals())
            log.info("heartbeat.stopping worker_id=%s sent=%d", worker_id, sent)
    finally:
        delivered = await publisher.stop(flush_timeout)
    if not delivered:
        log.warning("heartbeat.undelivered worker_id=%s reason='Kafka did not acknowledge "
                    "within %gs; kept in the outbox for the next run'", worker_id, flush_timeout)
        return 1 if once else 0
    return 0
