"""`fleetstream node-agent [--interval S] [--once] [--import-legacy-queue PATH]`: this machine's
snapshots to Kafka.

Runs until SIGTERM/SIGINT, then gives Kafka a few seconds to take the backlog (the rest stays in
the outbox for the next start). While it runs, FLEETSTREAM_NODE_WS_PORT (8756, seed 001's port;
0 turns it off) serves the seed's live WebSocket stream, `GET /health` and `GET /metrics`.
`--once` takes one snapshot, waits for Kafka's acknowledgement up to `--timeout` and exits 1 if it
did not come (the snapshot stays queued for the next run).

`--import-legacy-queue PATH` moves the snapshots of seed 001's SQLite queue into the outbox once
(`producers.node.legacy_queue`), waits up to `--timeout` for Kafka and exits: 0 when everything
was imported and delivered, 1 when rows were invalid (kept in the queue, listed) or Kafka did not
acknowledge in time (the imported snapshots stay in the outbox and go out with the agent).

Heavy modules (aiohttp, prometheus_client) are imported only when the server is on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.settings import NODE_AGENT, Settings
from fleetstream.commands import load_settings, positive_seconds, stop_on_signals

if TYPE_CHECKING:
    from producers.metrics import AgentMetrics
    from producers.node.live import LiveServer
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
                        help="with --once or --import-legacy-queue: seconds to wait for "
                             "Kafka's ack (default 30)")
    parser.add_argument("--import-legacy-queue", type=Path, default=None, metavar="PATH",
                        help="move the snapshots of seed 001's SQLite queue database into the "
                             "outbox once, deliver them and exit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(NODE_AGENT)
    interval = args.interval or settings.node_interval
    if args.import_legacy_queue is not None:
        return asyncio.run(_import(settings, args.import_legacy_queue, args.timeout))
    return asyncio.run(_main(settings, interval, once=args.once, timeout=args.timeout))


def _publisher(settings: Settings) -> Publisher:
    from producers.publisher import Publisher

    return Publisher(PUBLISHER_NAME, settings)


async def _main(settings: Settings, interval: float, *, once: bool, timeout: float) -> int:
    from producers.node.agent import NodeAgent
    from producers.node.collector import NodeCollector

    publisher = _publisher(settings)
    serve = not once and settings.node_ws_port != 0
    metrics = None
    if serve:
        from producers.metrics import AgentMetrics

        metrics = AgentMetrics(PUBLISHER_NAME, publisher.name, publisher.stats)
    agent = NodeAgent(NodeCollector(settings.effective_node_id), publisher,
                      settings.topic("node"), metrics)
    log.info("node.started node_id=%s interval=%.3fs once=%s topic=%s ws_port=%s",
             settings.effective_node_id, interval, once, agent.topic,
             settings.node_ws_port if serve else "off")
    await publisher.start()
    live = None
    try:
        if once:
            return 0 if await agent.run_once(timeout) else 1
        if serve:
            live = await _serve(settings, interval, publisher, metrics)
            if live is not None:
                agent.listeners.append(live.publish)
        await agent.run(interval, stop_on_signals())
        return 0
    finally:
        if live is not None:
            await live.stop()
        await publisher.stop(flush_timeout=0 if once else _STOP_FLUSH_SECONDS)
        agent.close()


async def _serve(settings: Settings, interval: float, publisher: Publisher,
                 metrics: AgentMetrics | None) -> LiveServer | None:
    """The live server, or None when its port cannot be bound.

    Snapshots are the agent's job and the live stream an addition to it (seed 001: "all new code
    is additive"), so a taken port costs the stream, loudly, and never the collection.
    """
    from producers.node.live import LiveServer

    live = LiveServer(settings.effective_node_id, interval, publisher.stats, metrics)
    try:
        await live.start(settings.node_ws_bind, settings.node_ws_port)
    except OSError as exc:
        await live.stop()
        log.error("node.ws_unavailable address=%s:%d error=%r: collecting without the live "
                  "stream, /health and /metrics; free the port or set FLEETSTREAM_NODE_WS_PORT "
                  "(0 turns the server off)", settings.node_ws_bind, settings.node_ws_port, exc)
        return None
    return live


async def _import(settings: Settings, path: Path, timeout: float) -> int:
    from producers.node.legacy_queue import LegacyQueueError, import_legacy_queue

    publisher = _publisher(settings)
    await publisher.start()
    try:
        try:
            result = await import_legacy_queue(path, publisher.publish_many,
                                               settings.topic("node"))
        except LegacyQueueError as exc:
            print(f"fleetstream: {exc}")
            return 1
        delivered = await publisher.flush(timeout)
    finally:
        await publisher.stop(flush_timeout=0)
    print(f"imported {result.imported} snapshots from {path} into the outbox; "
          f"{len(result.invalid)} invalid rows kept in the queue")
    for row in result.invalid:
        print(f"  invalid row id={row.id}: {row.reason!r}")
    if not delivered:
        print(f"Kafka did not acknowledge within {timeout:g}s: the snapshots stay in the outbox "
              "and go out with the next run of the agent")
    return 0 if delivered and not result.invalid else 1
