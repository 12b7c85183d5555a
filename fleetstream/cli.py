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


def command_modules(argv: Sequence[str] = ()) -> list[str]:
    """The command modules to register for `argv`: only the invoked command's when a module is
    named after it, else all of them (`--help`, a mistyped command, `job`/`status`, which share
    a module). Each module imports what its own command needs, so an agent started as
    `fleetstream node-agent` does not load the other commands' dependencies (the backup
    reporter's HTTP client, the schemas exporter, the stack's launcher)."""
    names = sorted(module.name for module in pkgutil.iter_modules(fleetstream.commands.__path__))
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is not None and (name := command.replace("-", "_")) in names:
        return [name]
    return names


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetstream",
        description="Event-sourced telemetry stream processor (Kafka + Faust).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in command_modules(argv):
        importlib.import_module(f"fleetstream.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
