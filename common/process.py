"""Start-up of a fleetstream process: its settings (or one clear error), logging, and signals.

Why it exists: every long-running process (worker, agents, simulators) starts the same way: load
the settings of its own section, exit with status 2 and one message naming every bad setting,
configure logging, and learn of Ctrl-C / SIGTERM through an `asyncio.Event`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from common.settings import ConfigError, Settings


def load_settings(process: str | None = None) -> Settings:
    """The settings of `process` (see `common.settings.PROCESSES`); exits 2 when invalid."""
    try:
        settings = Settings.load(process=process)
    except ConfigError as exc:
        print(f"fleetstream: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    level = {"warn": "WARNING", "crit": "CRITICAL"}.get(settings.log_level,
                                                         settings.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return settings


def stop_on_signals() -> asyncio.Event:
    """An event set on SIGINT or SIGTERM, for the running event loop's long-running command."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
