"""`deadletter`'s pure parts: option parsing, escaping in the listing, what redrive may send."""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetstream.commands.deadletter import render
from fleetstream.commands.deadletter.options import parse_address, parse_since
from fleetstream.commands.deadletter.reading import RawPayloadError, Record
from fleetstream.commands.deadletter.redrive import plan
from schemas.deadletter import MAX_RAW_BYTES, DeadLetter
from tests.integration.helpers import free_port

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PREFIX = "telemetry."


def record(letter: DeadLetter | None, key: bytes | None = b"k", value: bytes = b"") -> Record:
    return Record(partition=2, offset=17, timestamp_ms=1_764_590_400_000, key=key,
                  value=letter.encode() if letter else value, letter=letter,
                  problem=None if letter else "not a dead-letter record: invalid JSON")


@pytest.mark.parametrize(("text", "ago"), [
    ("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)),
    ("1h30m", timedelta(minutes=90)), ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1)),
])
def test_since_takes_durations(text: str, ago: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - ago


def test_since_takes_timestamps_utc_by_default() -> None:
    assert parse_since("2026-12-01T08:00:00Z", NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert parse_since("2026-12-01T08:00", NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert parse_since("2026-12-01T10:00+02:00", NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "15", "-5m", "2027-01-01T00:00:00Z", ""])
def test_since_refuses_what_it_cannot_mean(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since(text, NOW)


def test_addresses_are_partition_colon_offset() -> None:
    assert parse_address("3:1207") == (3, 1207)
    for bad in ("3", "a:1", "3:-1", "3:1:2", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="PARTITION:OFFSET"):
            parse_address(bad)


def test_the_listing_escapes_hostile_payloads_and_reasons() -> None:
    letter = DeadLetter.of(b"\x1b[2J\xff{\"a\": \"\xe2\x80\xae\"}", "bad \x1b[31mvalue\x07",
                           topic="telemetry.node", partition=0, offset=5)
    assert letter.raw_encoding == "base64"
    text = render.format_table([record(letter)])
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b[2J\\xff" in text and "\\u202e" in text and "bad \\x1b[31mvalue\\x07" in text
    assert "telemetry.node:0:5" in text and text.splitlines()[1].startswith("2:17")


def test_the_preview_is_short() -> None:
    letter = DeadLetter.of(b"x" * 5000, "too long", endpoint="/api/heartbeat")
    preview = render.preview(record(letter))
    assert len(preview) == render.PREVIEW_CHARS and preview.endswith("...")


def test_original_bytes_come_back_from_either_encoding() -> None:
    assert record(DeadLetter.of(b"caf\xc3\xa9", "r")).original() == b"caf\xc3\xa9"
    assert record(DeadLetter.of(b"\xff\x00", "r")).original() == b"\xff\x00"
    broken = DeadLetter(error="r", field_errors=[], raw="!!!", raw_encoding="base64", at=NOW)
    with pytest.raises(RawPayloadError, match="base64"):
        record(broken).original()
    truncated = DeadLetter.of(b"x" * (MAX_RAW_BYTES + 1), "r")
    with pytest.raises(RawPayloadError, match=f"of {MAX_RAW_BYTES + 1} bytes"):
        record(truncated).original()  # a part of an input is no input to redrive


def test_redrive_sends_stream_inputs_back_and_skips_the_rest_with_reasons() -> None:
    stream = record(DeadLetter.of(b"\xff", "r", topic="telemetry.vm", partition=1, offset=2),
                    key=b"vm-7")
    http = record(DeadLetter.of(b"{}", "r", endpoint="/api/v1/telemetry/backup/j1"))
    forged = record(DeadLetter.of(b"{}", "r", topic="__consumer_offsets", partition=0, offset=0))
    loop = record(DeadLetter.of(b"{}", "r", topic="telemetry.deadletter", partition=0,
                                offset=0))
    bad_raw = record(DeadLetter(error="r", field_errors=[], raw="%%", raw_encoding="base64",
                                origin_topic="telemetry.vm", at=NOW))
    garbage = record(None, value=b"nope")
    decided = plan([stream, http, forged, loop, bad_raw, garbage], PREFIX,
                   "telemetry.deadletter")
    [resend] = decided.resend
    assert (resend.topic, resend.key, resend.value) == ("telemetry.vm", b"vm-7", b"\xff")
    reasons = [why for _, why in decided.skipped]
    assert "re-POST it to the endpoint" in reasons[0]
    assert "is not a topic of prefix" in reasons[1] and "is not a topic of prefix" in reasons[2]
    assert "base64" in reasons[3] and "not a dead-letter record" in reasons[4]


def test_json_output_is_ascii_and_keeps_the_dead_letter() -> None:
    letter = DeadLetter.of("é\x1b".encode(), "r", topic="telemetry.node", partition=0, offset=1)
    text = render.format_json([record(letter, key=b"\xfe")])
    assert text.isascii()
    assert '"key": "' + base64.b64encode(b"\xfe").decode() + '"' in text
    assert '"key_encoding": "base64"' in text and '"origin_topic": "telemetry.node"' in text


@pytest.mark.parametrize("args", [["deadletter"], ["deadletter", "redrive", "--offset", "0:1"]])
def test_an_unreachable_kafka_is_one_clear_error(args: list[str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTREAM_")}
    result = subprocess.run([FLEETSTREAM, *args, "--timeout", "5"],
                            env={**clean, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("fleetstream deadletter: ")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_empty_prefix_still_keeps_redrive_off_internal_topics() -> None:
    internal = record(DeadLetter.of(b"{}", "r", topic="__consumer_offsets", partition=0,
                                    offset=0))
    ours = record(DeadLetter.of(b"{}", "r", topic="backup", partition=0, offset=0))
    decided = plan([internal, ours], "", "deadletter")
    assert [item.topic for item in decided.resend] == ["backup"]
    assert len(decided.skipped) == 1
