"""Parsing the `deadletter` options: `--since DURATION|TIMESTAMP` and `--offset PARTITION:OFFSET`.

Why it exists: both are typed by an operator in a hurry; a typo must be a usage error that says
what is expected, never a listing that is silently empty.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_ADDRESS = re.compile(r"(\d{1,9}):(\d{1,19})")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`15m`, `1h30m`, `2d` (that long ago) or an ISO 8601 time (`2026-12-01T08:00:00Z`; without
    a zone it is UTC) -> an aware UTC datetime. Raises argparse.ArgumentTypeError."""
    now = now or datetime.now(UTC)
    raw = text.strip()
    if _DURATION.fullmatch(raw):
        seconds = sum(float(amount) * _UNITS[unit] for amount, unit in _PART.findall(raw))
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (e.g. 90s, 15m, 1h30m, 2d) nor an ISO 8601 time "
            "(e.g. 2026-12-01T08:00:00Z)") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now:
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return moment


def parse_address(text: str) -> tuple[int, int]:
    """`PARTITION:OFFSET` of a record of the dead-letter topic, as `deadletter` lists it."""
    match = _ADDRESS.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PARTITION:OFFSET (the ID column of `fleetstream deadletter`), "
            "e.g. 3:1207")
    return int(match[1]), int(match[2])


def positive_int(text: str) -> int:
    """argparse type of `--limit`."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value
