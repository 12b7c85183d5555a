"""`fleetstream heartbeat --worker-id ID [--task ID:NAME:TYPE ...] [--interval 5] [--once]`.

Publishes this machine's CPU/memory (psutil) and GPU (nvidia-smi, if present) usage as
`worker.heartbeat/1` to `telemetry.heartbeat` through the durable outbox, every `--interval`
seconds until SIGINT/SIGTERM, with the `--task`s as the worker's running tasks (for scripts whose
worker cannot embed `producers.heartbeat.HeartbeatEmitter`). `--once` sends one heartbeat, waits
(up to `--flush-timeout`) for Kafka to acknowledge it and exits 1 if it did not (it stays in the
outbox for the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from common.settings import HEARTBEAT, Settings
from fleetstream.commands import (
    has_control_characters,
    identifier_option,
    load_settings,
    positive_seconds,
    stop_on_signals,
)
from producers.heartbeat import HeartbeatEmitter
from producers.publisher import Publisher, outbox_name
from schemas.worker import MAX_RUNNING_TASKS, RunningTask

log = logging.getLogger(__name__)


def task_spec(text: str) -> RunningTask:
    """argparse type of `--task ID:NAME:TYPE`; NAME and TYPE may be empty (unknown)."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            "expected ID:NAME:TYPE (NAME and TYPE may be empty, none may contain ':'), "
            "e.g. t-17:resnet-train:training")
    if has_control_characters(text):
        raise argparse.ArgumentTypeError("contains control characters")
    task_id, name, task_type = (part.strip() for part in parts)
    try:
        return RunningTask(task_id=task_id, name=name or None, task_type=task_type or None)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors())
        raise argparse.ArgumentTypeError(problems) from None


def check_tasks(tasks: Sequence[RunningTask]) -> str | None:
    """Why these `--task`s cannot be sent together (duplicate ids, too many), or None."""
    if len(tasks) > MAX_RUNNING_TASKS:
        return f"{len(tasks)} --task options, more than the {MAX_RUNNING_TASKS} a heartbeat holds"
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            return f"--task id {task.task_id!r} is given twice"
        seen.add(task.task_id)
    return None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("heartbeat", help="send a compute worker's heartbeats")
    parser.add_argument("--worker-id", required=True, type=identifier_option,
                        help="the worker's id (its Kafka key)")
    parser.add_argument("--task", action="append", type=task_spec, default=[],
                        metavar="ID:NAME:TYPE", dest="tasks",
                        help="a task the worker is running, sent with every heartbeat "
                             "(repeatable; NAME and TYPE may be empty)")
    parser.add_argument("--interval", type=positive_seconds, default=5.0, metavar="SECONDS",
                        help="seconds between heartbeats (default 5)")
    parser.add_argument("--once", action="store_true", help="send one heartbeat and exit")
    parser.add_argument("--flush-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for Kafka to acknowledge on exit (default 10)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    problem = check_tasks(args.tasks)
    if problem is not None:
        print(f"fleetstream heartbeat: {problem}", file=sys.stderr)
        return 2
    settings = load_settings(HEARTBEAT)
    return asyncio.run(_main(settings, args.worker_id, args.interval, tuple(args.tasks),
                             once=args.once, flush_timeout=args.flush_timeout))


async def _main(settings: Settings, worker_id: str, interval: float,
                tasks: tuple[RunningTask, ...], *, once: bool, flush_timeout: float) -> int:
    publisher = Publisher(outbox_name("heartbeat", worker_id), settings)
    await publisher.start()
    emitter = HeartbeatEmitter(worker_id, publisher, settings.topic("heartbeat"),
                               interval=interval, tasks=lambda: tasks)
    log.info("heartbeat.starting worker_id=%s topic=%s interval=%gs once=%s tasks=%d",
             worker_id, settings.topic("heartbeat"), interval, once, len(tasks))
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
