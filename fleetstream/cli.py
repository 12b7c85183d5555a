"""The `fleetstream` console script: one entry point, one subcommand per module.

Why it exists: every command lives in its own module under `fleetstream.commands`, exposing
`register(subparsers)`; this file only discovers them, so adding a command never edits it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import fleetstream.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetstream",
        description="Event-sourced telemetry stream processor (Kafka + Faust).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(fleetstream.commands.__path__),
                              key=lambda m: m.name):
        module = importlib.import_module(f"fleetstream.commands.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
