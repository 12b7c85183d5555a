"""Subcommands of `fleetstream`. Each module has `register(subparsers)` and sets `run=`.

`load_settings()` is how a command gets its configuration: on invalid settings it prints the one
message naming every problem and exits with status 2. `positive_seconds` parses duration options;
`stop_on_signals()` is how a long-running command learns of Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from fleetstream.settings import ConfigError, Settings


def load_settings() -> Settings:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"fleetstream: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    level = {"warn": "WARNING", "crit": "CRITICAL"}.get(settings.log_level,
                                                         settings.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return settings


def positive_seconds(raw: str) -> float:
    """argparse type of a duration option: a positive number of seconds."""
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def stop_on_signals() -> asyncio.Event:
    """An event set on SIGINT or SIGTERM, for the running event loop's long-running command."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
