"""`fleetstream config [--process NAME]`: show the effective configuration with secrets masked."""

from __future__ import annotations

import argparse
from typing import Any

from common.settings import PROCESSES
from fleetstream.commands import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="show the effective settings (secrets masked)")
    parser.add_argument("--process", choices=sorted(PROCESSES),
                        help="only the settings this process reads (default: every setting)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name, value in load_settings(args.process).masked(args.process).items():
        print(f"{name}={value}")
    return 0
