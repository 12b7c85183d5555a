"""`fleetstream node-agent [--interval S] [--once]`: publish this machine's snapshots to Kafka.

Runs until SIGTERM/SIGINT, then gives Kafka a few seconds to take the backlog (the rest stays in
the outbox for the next start). `--once` takes one snapshot, waits for Kafka's acknowledgement up
to `--timeout` and exits 1 if it did not come (the snapshot stays queued for the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from common.settings import NODE_AGENT, Settings
from fleetstream.commands import load_settings, positive_seconds, stop_on_signals
from producers.node.agent import NodeAgent
from producers.node.collector import NodeCollector
from producers.publisher import Publisher

log = logging.getLogger(__name__)

PUBLISHER_NAME = "node-agent"
_STOP_FLUSH_SECONDS = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "node-agent", help="publish this machine's CPU/memory/disk/network snapshots")
    parser.add_argument("--interval", type=positive_seconds, default=None,
                        help="seconds between snapshots (default: FLEETSTREAM_NODE_INTERVAL)")
    parser.add_argument("--once", action="store_true",
                        help="publish one snapshot, wait for Kafka's ack, exit (1 if none)")
    parser.add_argument("--timeout", type=positive_seconds, default=30.0,
                        help="with --once: seconds to wait for Kafka's ack (default 30)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(NODE_AGENT)
    interval = args.interval or settings.node_interval
    return asyncio.run(_main(settings, interval, once=args.once, timeout=args.timeout))


async def _main(settings: Settings, interval: float, *, once: bool, timeout: float) -> int:
    publisher = Publisher(PUBLISHER_NAME, settings)
    agent = NodeAgent(NodeCollector(settings.effective_node_id), publisher,
                      settings.topic("node"))
    log.info("node.started node_id=%s interval=%.3fs once=%s topic=%s",
             settings.effective_node_id, interval, once, agent.topic)
    await publisher.start()
    try:
        if once:
            return 0 if await agent.run_once(timeout) else 1
        await agent.run(interval, stop_on_signals())
        return 0
    finally:
        await publisher.stop(flush_timeout=0 if once else _STOP_FLUSH_SECONDS)
        agent.close()
