"""`fleetstream stack up|down|status`: the local Kafka + PostgreSQL + TSDB stack."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fleetstream.stack import Stack, StackError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("stack", help="run the local stack (Kafka, PostgreSQL, TSDB)")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(".stack"),
                        help="state directory of the stack (default: .stack)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.dir)
    try:
        if args.action == "up":
            if stack.kafka.jars_cached():
                print(f"kafka: using cached broker jars in {stack.kafka.jar_dir}")
            for line in stack.up():
                print(line)
            print(f"environment written to {stack.env_file} (source it)")
            return 0
        if args.action == "down":
            for line in stack.down():
                print(line)
            return 0
        healthy, lines = stack.status()
        for line in lines:
            print(line)
        return 0 if healthy else 1
    except StackError as exc:
        print(f"fleetstream stack {args.action}: {exc}", file=sys.stderr)
        return 1
