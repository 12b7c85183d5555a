"""Subcommands of `fleetstream`. Each module has `register(subparsers)` and sets `run=`.

A command gets its configuration from `common.process.load_settings(process)`: on invalid
settings it prints the one message naming every problem and exits with status 2.
`positive_seconds` parses duration options.
"""

from __future__ import annotations

import argparse

from common.process import load_settings, stop_on_signals

__all__ = ["load_settings", "positive_seconds", "stop_on_signals"]


def positive_seconds(raw: str) -> float:
    """argparse type of a duration option: a positive number of seconds."""
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value
