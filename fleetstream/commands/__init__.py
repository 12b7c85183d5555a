"""Subcommands of `fleetstream`. Each module has `register(subparsers)` and sets `run=`.

A command gets its configuration from `common.process.load_settings(process)`: on invalid
settings it prints the one message naming every problem and exits with status 2.
`positive_seconds` parses duration options, `check_identifier` an id option (a Kafka key, a file
name); `printable` makes outside text safe for a terminal (`has_control_characters` tells whether
it had to).
"""

from __future__ import annotations

import argparse
import unicodedata

from common.process import load_settings, stop_on_signals

__all__ = ["MAX_IDENTIFIER", "check_identifier", "has_control_characters", "identifier_option",
           "load_settings", "positive_seconds", "printable", "stop_on_signals"]

MAX_IDENTIFIER = 256
"""The longest id an event carries (`schemas.event.Identifier`)."""

# Control (Cc), format (Cf: bidi overrides, zero-width) and line/paragraph separators: printed
# raw they move the cursor, recolour or reorder what an operator reads. Lone surrogates (Cs) are
# what `bytes.decode(errors="surrogateescape")` makes of bytes that are not UTF-8.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def positive_seconds(raw: str) -> float:
    """argparse type of a duration option: a positive number of seconds."""
    value = float(raw)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def check_identifier(text: str) -> str:
    """An id as given, or ValueError saying what is wrong with it (empty, too long, control
    characters); the message never echoes the raw characters."""
    if not text.strip():
        raise ValueError("is empty")
    if len(text) > MAX_IDENTIFIER:
        raise ValueError(f"is {len(text)} characters long, more than {MAX_IDENTIFIER}")
    if has_control_characters(text):
        raise ValueError(f"contains control characters: '{printable(text, 80)}'")
    return text


def identifier_option(text: str) -> str:
    """argparse type of an id option, e.g. `--job-id`, `--worker-id`."""
    try:
        return check_identifier(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if unicodedata.category(char) not in _UNPRINTABLE:
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a character `printable` would escape (other than a backslash)."""
    return any(unicodedata.category(char) in _UNPRINTABLE for char in text)


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control character escaped (`\\x1b`, `\\u202e`; a backslash doubled; a
    byte that was not UTF-8, decoded with `errors="surrogateescape"`, as `\\xff`),
    cut to at most `limit` characters ending in `...` (never inside an escape): outside text,
    fit for a terminal."""
    pieces = [_escape(char) for char in text]
    if limit is None or sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept: list[str] = []
    room = max(0, limit - 3)
    for piece in pieces:
        if len(piece) > room:
            break
        kept.append(piece)
        room -= len(piece)
    return "".join(kept) + "..."
