"""`fleetstream stack up|down|status`: Kafka, PostgreSQL, the TSDBs, Prometheus, Alertmanager."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fleetstream.stack import Stack, StackError
from fleetstream.stack.monitoring import REPO_RULES_DIR


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "stack", help="run the local stack (Kafka, PostgreSQL, TSDBs, Prometheus, Alertmanager)")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(".stack"),
                        help="state directory of the stack (default: .stack)")
    parser.add_argument("--secure", action="store_true",
                        help="also open Kafka's SASL_SSL listener; client settings for it are "
                             "written to <dir>/kafka-secure.env")
    parser.add_argument("--rules", type=Path, default=REPO_RULES_DIR,
                        help="directory of Prometheus *.rules.yml (default: deploy/prometheus)")
    parser.add_argument("--alert-webhook", default=None, metavar="URL",
                        help="where Alertmanager sends notifications (default: nowhere)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.dir, secure=args.secure, rules_dir=args.rules,
                  alert_webhook=args.alert_webhook)
    try:
        if args.action == "up":
            if stack.kafka.jars_cached():
                print(f"kafka: using cached broker jars in {stack.kafka.jar_dir}")
            for line in stack.up():
                print(line)
            print(f"environment written to {stack.env_file} (source it)")
            if stack.secure:
                print(f"SASL_SSL client settings written to {stack.secure_env_file}")
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
