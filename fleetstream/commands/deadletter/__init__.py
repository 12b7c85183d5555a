"""`fleetstream deadletter`: list the rejected inputs, and `deadletter redrive` them.

Why it exists: invalid input never stops a stream; it goes to `<prefix>deadletter` as a
`schemas.deadletter.DeadLetter` with the reason and its origin. This is how an operator sees it
without writing a consumer, and sends it back once the cause is fixed:

    fleetstream deadletter [--since 15m|2026-12-01T08:00Z] [--topic backup] [--limit N] [--json]
    fleetstream deadletter redrive (--offset PARTITION:OFFSET ... | --all-matching
                                    [--topic T] [--since S]) [--dry-run]

The listing's ID column is the record's PARTITION:OFFSET in the dead-letter topic, what
`--offset` takes. Reading joins no consumer group and stops at the end offsets seen at start or
at `--timeout`; what `redrive` sends and skips is decided in `redrive.plan`.
Exit status 0; 1 when Kafka could not be read or written, a read timed out, or an asked
`--offset` was not re-submitted; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiokafka.errors import KafkaError

from common.settings import CLI, Settings
from fleetstream.commands import load_settings, positive_seconds, printable
from fleetstream.commands.deadletter import render
from fleetstream.commands.deadletter.options import parse_address, parse_since, positive_int
from fleetstream.commands.deadletter.reading import Record, Scan, fetch, scan
from fleetstream.commands.deadletter.redrive import plan, resend

T = TypeVar("T")

DEFAULT_LIMIT = 100
_GUARD_SECONDS = 30.0
"""Beyond `--timeout`: the bound on a Kafka client call that has no deadline of its own."""


def _add_filters(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--since", type=parse_since, default=default,
                        metavar="DURATION|TIMESTAMP",
                        help="only dead letters from this long ago (90s, 15m, 1h30m, 2d) or this "
                             "ISO 8601 time (UTC without a zone) on")
    parser.add_argument("--topic", default=default, metavar="ORIGIN_TOPIC",
                        help="only dead letters read from this topic (full name, or without "
                             "the prefix: backup)")
    parser.add_argument("--timeout", type=positive_seconds, default=default, metavar="SECONDS",
                        help="give up reading/writing Kafka after this long (default 30)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deadletter", help="list dead letters (rejected input); `redrive` re-submits them")
    _add_filters(parser, None)
    parser.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT, metavar="N",
                        help=f"show the newest N (default {DEFAULT_LIMIT})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run_list, addresses=None)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    redrive = actions.add_parser(
        "redrive", help="re-submit dead letters' original bytes to their origin topic")
    chosen = redrive.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--offset", dest="addresses", action="extend", nargs="+",
                        type=parse_address, metavar="PARTITION:OFFSET",
                        help="these dead letters (the ID column of the listing)")
    chosen.add_argument("--all-matching", action="store_true",
                        help="every dead letter matching --topic/--since")
    # SUPPRESS: given before `redrive` (on `deadletter`) or after it, the option counts.
    _add_filters(redrive, argparse.SUPPRESS)
    redrive.add_argument("--dry-run", action="store_true",
                         help="show what would be re-submitted, send nothing")
    redrive.set_defaults(run=run_redrive)


def _settings() -> Settings:
    settings = load_settings(CLI)
    if settings.log_level != "debug":
        # aiokafka logs assignments and each failed connection attempt; the command reports
        # the outcome itself, once.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return settings


def _origin_filter(settings: Settings, topic: str | None) -> Callable[[Record], bool] | None:
    if topic is None:
        return None
    names = {topic, settings.topic(topic)}
    return lambda record: record.letter is not None and record.letter.origin_topic in names


def _timeout(args: argparse.Namespace) -> float:
    return float(args.timeout) if args.timeout is not None else 30.0


def _bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout + _GUARD_SECONDS))


def _fail(message: str) -> int:
    print(f"fleetstream deadletter: {message}", file=sys.stderr)
    return 1


async def _scan(settings: Settings, args: argparse.Namespace, newest: int | None) -> Scan:
    origin = _origin_filter(settings, args.topic)
    return await scan(settings.kafka_bootstrap_servers, settings.topic("deadletter"),
                      since=args.since, matches=origin or (lambda _record: True),
                      newest=newest, unfiltered=origin is None, timeout=_timeout(args))


def _report_scan(settings: Settings, result: Scan, timeout: float) -> bool:
    """Tell stderr why a scan saw less than everything; True when it was complete."""
    if not result.topic_exists:
        print(f"fleetstream deadletter: no topic {settings.topic('deadletter')} on "
              f"{settings.kafka_bootstrap_servers} (nothing rejected yet, or another "
              "FLEETSTREAM_TOPIC_PREFIX)", file=sys.stderr)
    if not result.complete:
        left = sum(result.unread.values())
        _fail(f"stopped after {timeout:g}s with {left} records not read; the result is "
              "incomplete (raise --timeout)")
    return result.complete


def run_list(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        result = _bounded(_scan(settings, args, args.limit), _timeout(args))
    except (KafkaError, TimeoutError, OSError) as exc:
        return _fail(f"cannot read {settings.topic('deadletter')} from Kafka at "
                     f"{settings.kafka_bootstrap_servers}: {printable(repr(exc), 300)}")
    print(render.format_json(result.records) if args.json
          else render.format_table(result.records))
    if not args.json and len(result.records) == args.limit:
        print(f"(the newest {args.limit}; --limit N shows more)", file=sys.stderr)
    return 0 if _report_scan(settings, result, _timeout(args)) else 1


async def _redrive(settings: Settings, args: argparse.Namespace) -> int:
    topic = settings.topic("deadletter")
    timeout = _timeout(args)
    status = 0
    if args.addresses:
        fetched = await fetch(settings.kafka_bootstrap_servers, topic, args.addresses, timeout)
        for (partition, offset), why in fetched.missing:
            print(f"no dead letter at {partition}:{offset}: {why}", file=sys.stderr)
            status = 1
        records = fetched.records
    else:
        result = await _scan(settings, args, None)
        if not _report_scan(settings, result, timeout):
            status = 1
        records = result.records
    decided = plan(records, settings.topic_prefix, topic)
    for record, why in decided.skipped:
        print(f"skipped {record.address}: {printable(why, 300)}")
        if args.addresses:
            status = 1
    for item in decided.resend:
        key = "-" if item.key is None else printable(
            item.key.decode("utf-8", errors="surrogateescape"), 60)
        verb = "would re-submit" if args.dry_run else "re-submitting"
        print(f"{verb} {item.record.address} to {item.topic} (key {key}, "
              f"{len(item.value)} bytes)")
    if args.dry_run:
        print(f"would re-submit {len(decided.resend)} dead letters (dry run: nothing sent)")
        return status
    acknowledged, failed = await resend(settings.kafka_bootstrap_servers, topic,
                                        decided.resend, timeout)
    for item, why in failed:
        print(f"not re-submitted {item.record.address}: {printable(why, 300)}", file=sys.stderr)
        status = 1
    print(f"re-submitted {acknowledged} dead letters to their origin topics")
    return status


def run_redrive(args: argparse.Namespace) -> int:
    if args.addresses and (args.since is not None or args.topic is not None):
        print("fleetstream deadletter redrive: --since/--topic select with --all-matching; "
              "--offset names the dead letters itself", file=sys.stderr)
        return 2
    settings = _settings()
    try:
        # Reading and sending each have --timeout.
        return _bounded(_redrive(settings, args), 2 * _timeout(args))
    except (KafkaError, TimeoutError, OSError) as exc:
        return _fail(f"Kafka at {settings.kafka_bootstrap_servers} failed: "
                     f"{printable(repr(exc), 300)}")
