"""A fast path for decoding events: msgspec structs that accept a subset of what a model accepts.

Why it exists: pydantic's validation, and building its models, was the largest single cost of the
pipeline runtime, about a quarter of its CPU an event (`bench/runtime.py`, py-spy;
docs/performance.md). A frozen msgspec `Struct` mirroring a model is parsed, bounded and built in
C, several times faster; the stream workers fold these structs (a model built from valid fields
in Python cost as much as pydantic's validation).

The pydantic model stays the one definition of the rules. The fast path only ACCEPTS, and only
inputs the model accepts too, with the same values: exactly the model's fields (an unknown field,
which the model ignores, could nest deeper than pydantic's parser allows), no JSON escapes (a
time could hide in one), no time with more than six fraction digits (msgspec rounds the seventh
where pydantic truncates), UTC times (pydantic converts offsets), integers as integers, UUIDs in
their canonical text (lowercase, hyphenated: the struct holds that text, `str` of the model's
UUID, which is what the folds use; building a `uuid.UUID` and printing it back cost 1.5 µs).
Everything else, hostile or merely unusual, goes to `schemas.event.decode`, which accepts it
(converted to the struct) or names the bad fields exactly as before: dead-letter reasons are
pydantic's. `tests/unit/schemas/test_fast.py` checks the subset property on hostile inputs.

What it must not do: reject anything on its own, or hold a rule the model does not state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Generic, TypeVar

import msgspec
from pydantic import BaseModel

from schemas.errors import CONTROL_FREE, NUL_FREE
from schemas.event import EARLIEST, END_OF_TIME, INT8_MAX, MAX_SECONDS, decode

M = TypeVar("M", bound=BaseModel)
_ZERO = timedelta(0)


# The bounds of `schemas.event`'s types, as msgspec states them; the characters of text fields
# are checked by `text` (msgspec's `pattern` cost 4 µs an event, more than all its parsing).
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0, le=INT8_MAX)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]

_LONG_FRACTION = re.compile(rb'"ts"\s*:\s*"[^"]*\.[0-9]{7}')
"""`ts` with a seventh fraction digit. Without escapes the time is literal in the raw bytes and
`"ts"` is a key wherever it is followed by a colon; the literal prefix makes the search 0.4 µs
(a pattern for any such time anywhere took 2.5 µs)."""


def _whole(pattern: str) -> re.Pattern[str]:
    # `$` also matches before a final newline in Python; pydantic's core (Rust regex) anchors at
    # the very end, which `\Z` is in Python.
    return re.compile(pattern.removesuffix("$") + r"\Z")


_IDENTIFIERS = _whole(CONTROL_FREE)
_TEXTS = _whole(NUL_FREE)


class Refused(ValueError):
    """The fast path does not take this input; the model decides (raised inside `FastDecoder`)."""


def event_time(at: datetime, latest: datetime | None) -> None:
    """`Refused` unless `at` is a UTC time `schemas.event.EventTime` takes as it is."""
    if at.utcoffset() != _ZERO or not EARLIEST <= at < END_OF_TIME or (
            latest is not None and at > latest):
        raise Refused(f"ts {at}")


CanonicalUuid = Annotated[str, msgspec.Meta(min_length=36, max_length=36)]
"""A UUID as the struct holds it: `str(uuid.UUID(...))`, checked by `canonical_uuid`."""
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def canonical_uuid(value: str) -> None:
    """`Refused` unless `value` is a UUID written as `str(uuid.UUID)` writes it (the model
    also takes other spellings, which it converts; `from_model` then gives this text)."""
    if not _CANONICAL_UUID.match(value):
        raise Refused("a UUID not in canonical form")


def text(identifiers: str, texts: str) -> None:
    """`Refused` unless `identifiers` (the id fields, concatenated) match `Identifier`'s pattern
    and `texts` (the text fields) `Text`'s: a character is in some field iff it is in their
    concatenation, so one search covers them all."""
    if not (_IDENTIFIERS.match(identifiers) and _TEXTS.match(texts)):
        raise Refused("a control character in an id, or NUL in text")


def plain(raw: bytes) -> bool:
    """Whether JSON `raw`, holding no escape, is ASCII without DEL: then none of its strings
    holds a control character or NUL (a raw C0 character in a string is invalid JSON, which
    msgspec refuses; C1 ones are not ASCII). Two scans in C, 0.34 µs for a 519-byte report, where
    `text` searched its fields with two patterns in 0.7-1.1 µs."""
    return raw.isascii() and b"\x7f" not in raw


S = TypeVar("S", bound=msgspec.Struct)


class FastDecoder(Generic[S, M]):
    """`schemas.event.decode` for one model, giving its struct, with the fast path in front.

    `check` raises `Refused` for what the struct's types cannot state (the text patterns, the
    time's range, the model's own validators); its third argument tells that the input is
    `plain` (then no text field can hold a control character or NUL: `text` need not look);
    `from_model` converts what only the model accepted.
    """

    def __init__(self, struct: type[S], model: type[M],
                 check: Callable[[S, datetime | None, bool], None],
                 from_model: Callable[[M], S]) -> None:
        self.model = model
        self._decoder = msgspec.json.Decoder(struct)
        self._check = check
        self._from_model = from_model

    def fast(self, raw: bytes, latest: datetime | None) -> S | None:
        """The struct, or None when the model must decide."""
        if b"\\" in raw or _LONG_FRACTION.search(raw):
            return None
        try:
            event = self._decoder.decode(raw)
            self._check(event, latest, plain(raw))
        except (msgspec.DecodeError, ValueError, TypeError):
            # TypeError: comparing with a naive `latest`, the caller's bug, which `decode` names.
            return None
        return event

    def __call__(self, raw: bytes, *, latest: datetime | None = None) -> S:
        event = self.fast(raw, latest)
        if event is None:
            event = self._from_model(decode(self.model, raw, latest=latest))
        return event
