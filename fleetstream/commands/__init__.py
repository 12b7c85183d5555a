"""Subcommands of `fleetstream`. Each module has `register(subparsers)` and sets `run=`.

`load_settings()` is how a command gets its configuration: on invalid settings it prints the one
message naming every problem and exits with status 2.
"""

from __future__ import annotations

import logging
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
