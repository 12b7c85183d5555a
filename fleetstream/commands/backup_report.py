"""`fleetstream backup-report`: publish one backup progress report from a shell script.

For tools that cannot use the Python reporter library. The report goes through the durable
outbox; the command waits until Kafka acknowledged it and exits 1 if that did not happen in
`--timeout` seconds (the report stays in the outbox and goes out with the next invocation).
Without `--job-id` the job id comes from MIGRATEKIT_JOB_ID, which migratekit sets for the backup
client it runs (seed 003); a malformed id, from either place, is a one-line error and status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import sys
from collections.abc import Mapping
from typing import Any, get_args

from common.settings import BACKUP_REPORT, Settings
from fleetstream.commands import check_identifier, identifier_option, load_settings, printable
from producers.backup import SeqClock, progress_event
from producers.publisher import Publisher, outbox_name
from schemas.backup import JobStatus, JobType
from schemas.errors import InvalidEvent

_DISK = re.compile(r"(?P<index>\d+):(?P<done>\d+)(?:/(?P<total>\d+))?")

JOB_ID_ENV = "MIGRATEKIT_JOB_ID"


def resolve_job_id(option: str | None, environ: Mapping[str, str]) -> str:
    """`--job-id`, else MIGRATEKIT_JOB_ID; ValueError (a one-line message) when neither is
    usable."""
    if option is not None:
        return option
    value = environ.get(JOB_ID_ENV)
    if value is None:
        raise ValueError(f"no job id: pass --job-id or set {JOB_ID_ENV}")
    try:
        return check_identifier(value)
    except ValueError as exc:
        raise ValueError(f"{JOB_ID_ENV} {exc}") from None


def disk_spec(text: str) -> tuple[int, tuple[int, int | None]]:
    """`INDEX:BYTES[/TOTAL]` -> (index, (bytes, total))."""
    match = _DISK.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not INDEX:BYTES[/TOTAL], e.g. 0:1024/4096")
    total = match["total"]
    return int(match["index"]), (int(match["done"]), int(total) if total else None)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backup-report", help="publish one backup job progress report and wait for Kafka")
    parser.add_argument("--job-id", type=identifier_option,
                        help=f"the job's id (default: ${JOB_ID_ENV})")
    parser.add_argument("--job-type", required=True, choices=get_args(JobType))
    parser.add_argument("--status", default="running", choices=get_args(JobStatus))
    parser.add_argument("--phase", default="transferring", help="current phase, free text")
    parser.add_argument("--total-bytes", type=int,
                        help="job size in bytes (default: the sum of the disks' totals)")
    parser.add_argument("--disk", action="append", type=disk_spec, default=[],
                        metavar="INDEX:BYTES[/TOTAL]", help="a disk's progress (repeatable)")
    parser.add_argument("--error", help="failure reason (with --status failed)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for Kafka's acknowledgement")
    parser.set_defaults(run=run)


async def publish_report(settings: Settings, args: argparse.Namespace, job_id: str) -> bool:
    disks = dict(args.disk)
    total = args.total_bytes
    if total is None:
        total = sum(size or 0 for _, size in disks.values())
    event = progress_event(
        job_id=job_id, job_type=args.job_type, status=args.status, phase=args.phase,
        seq=SeqClock().next(), total_bytes=total, disks=disks,
        source=f"backup-report@{socket.gethostname()}", error=args.error)
    publisher = Publisher(outbox_name("backup-report", job_id), settings)
    await publisher.start()
    try:
        await publisher.publish(settings.topic("backup"), job_id.encode(), event.encode())
        return await publisher.flush(args.timeout)
    finally:
        await publisher.stop(flush_timeout=0)


def run(args: argparse.Namespace) -> int:
    try:
        job_id = resolve_job_id(args.job_id, os.environ)
    except ValueError as exc:
        print(f"fleetstream backup-report: {exc}", file=sys.stderr)
        return 2
    settings = load_settings(BACKUP_REPORT)
    try:
        acknowledged = asyncio.run(publish_report(settings, args, job_id))
    except InvalidEvent as exc:
        print(f"fleetstream: invalid report: {exc.reason}", file=sys.stderr)
        return 2
    if not acknowledged:
        print(f"fleetstream: Kafka did not acknowledge the report within {args.timeout:g}s "
              f"({settings.kafka_bootstrap_servers}); it stays in the outbox and is sent by the "
              "next backup-report for this job", file=sys.stderr)
        return 1
    print(f"reported job {job_id}: {args.status} {printable(args.phase)}")
    return 0
