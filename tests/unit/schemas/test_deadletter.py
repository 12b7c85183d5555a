"""Dead letters stay sendable whatever the input: bounded in size, exact when they can be."""

from __future__ import annotations

import base64

from schemas.deadletter import MAX_FIELD_ERRORS, MAX_RAW_BYTES, DeadLetter
from schemas.errors import FieldError

BROKER_DEFAULT_MAX_MESSAGE = 1024 * 1024


def test_an_input_that_fits_is_kept_exactly() -> None:
    raw = b'{"a": "\x00\xff"}'  # not UTF-8
    letter = DeadLetter.of(raw, "bad", topic="t", partition=0, offset=1)
    assert letter.raw_encoding == "base64"
    assert base64.b64decode(letter.raw) == raw
    assert not letter.raw_truncated and letter.raw_bytes is None
    assert DeadLetter.of(b"x" * MAX_RAW_BYTES, "bad").raw == "x" * MAX_RAW_BYTES


def test_the_worst_input_still_makes_a_letter_the_broker_takes() -> None:
    """Regression: a 1 MiB record of control characters became a 6 MiB dead letter, which no
    producer batch holds: the batch was retried for ever and its partition stalled."""
    hostile = "\x00" * 10_000
    errors = [FieldError(f"{hostile}.{n}", hostile) for n in range(1_000)]
    letter = DeadLetter.of(b"\x00" * BROKER_DEFAULT_MAX_MESSAGE, "e\x00" * 100_000, errors)
    encoded = letter.encode()
    assert len(encoded) < 800 * 1024, len(encoded)
    assert letter.raw_truncated and letter.raw_bytes == BROKER_DEFAULT_MAX_MESSAGE
    assert letter.raw == "\x00" * MAX_RAW_BYTES
    assert len(letter.field_errors) == MAX_FIELD_ERRORS + 1
    assert letter.field_errors[-1]["message"] == "and 950 more field errors"
    assert DeadLetter.model_validate_json(encoded) == letter


def test_a_utf8_character_cut_by_the_bound_keeps_the_bytes_as_base64() -> None:
    raw = b"a" * (MAX_RAW_BYTES - 1) + "é".encode() * 4
    letter = DeadLetter.of(raw, "bad")
    assert letter.raw_encoding == "base64" and letter.raw_truncated
    assert base64.b64decode(letter.raw) == raw[:MAX_RAW_BYTES]
