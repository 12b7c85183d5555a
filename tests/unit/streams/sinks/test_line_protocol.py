"""Line protocol per the spec: each rule pinned by a unit test, and generated points read back
by a reader written from the spec's text. `test_line_protocol_point.py` compares with
influxdb3-python's own `Point` (kept apart: `make mutation`'s venv has no influxdb3-python).

Regression: tag values were escaped for `,= ` only, so a node id with a newline split the line
and forged a second point, and a trailing backslash escaped the separator after it; timestamps
went through a float and lost a microsecond past 2038.

Where `Point` is lenient or lossy, the spec wins and the difference is asserted, not hidden:
- it writes a newline/CR/tab in a name or tag as the two characters `\\n` (the database then
  stores a backslash and an `n`), and any other control character as is; we raise;
- it does not escape a backslash in names and tags, and "fixes" a trailing one by appending a
  space (the tag value gains an escaped space); we write `\\\\`, which the spec and
  VictoriaMetrics read back as one backslash;
- it drops NaN/inf fields silently and writes integers beyond int64 (the database refuses the
  whole batch); we raise;
- it trims `.0` from integral floats (`1.0` -> `1`, still a float in line protocol); we keep
  `1.0`, so the two lines are compared as parsed points (and textually when no float is
  integral).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sinks.line_protocol import FieldValue, UnwritablePoint, line, timestamp_ns

AT = datetime(2025, 10, 10, 14, 35, 42, 123456, tzinfo=UTC)
AT_NS = 1_760_106_942_123_456_000


# --- a reference reader, from the spec's text ------------------------------------------------

Parsed = tuple[str, dict[str, str], dict[str, tuple[str, Any]], int]


def _read(text: str, start: int, stops: str, escapable: str) -> tuple[str, int]:
    """Read up to an unescaped stop character; `\\x` is x when x is escapable, else kept."""
    out: list[str] = []
    i = start
    while i < len(text) and text[i] not in stops:
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in escapable:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out), i


def _typed(raw: str) -> tuple[str, Any]:
    if raw.endswith("i"):
        return "int", int(raw[:-1])
    if raw in {"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"}:
        return "bool", raw[0] in "tT"
    return "float", float(raw)


def parse(text: str) -> Parsed:
    """One line of line protocol as (measurement, tags, fields, timestamp)."""
    assert "\n" not in text
    measurement, i = _read(text, 0, ", ", ", \\")
    tags: dict[str, str] = {}
    while text[i] == ",":
        key, i = _read(text, i + 1, "=", ",= \\")
        value, i = _read(text, i + 1, ", ", ",= \\")
        tags[key] = value
    fields: dict[str, tuple[str, Any]] = {}
    assert text[i] == " "
    while True:
        key, i = _read(text, i + 1, "=", ",= \\")
        i += 1
        if text[i] == '"':
            value, i = _read(text, i + 1, '"', '"\\')
            fields[key] = ("str", value)
            i += 1
        else:
            raw, i = _read(text, i, ", ", "")
            fields[key] = _typed(raw)
        if text[i] != ",":
            break
    assert text[i] == " "
    return measurement, tags, fields, int(text[i + 1:])


# --- each rule ------------------------------------------------------------------------------

def test_an_integer_gets_the_i_suffix() -> None:
    assert line("m", {}, {"n": 5}, AT) == f"m n=5i {AT_NS}"


def test_a_float_stays_a_float_even_when_integral() -> None:
    assert line("m", {}, {"x": 1.0, "y": 0.25, "z": 1e16}, AT) == f"m x=1.0,y=0.25,z=1e+16 {AT_NS}"


def test_bools_are_true_and_false_not_integers() -> None:
    assert line("m", {}, {"on": True, "off": False}, AT) == f"m off=false,on=true {AT_NS}"


def test_a_string_field_is_quoted_with_quote_and_backslash_escaped() -> None:
    assert line("m", {}, {"s": 'say "hi" \\'}, AT) == f'm s="say \\"hi\\" \\\\" {AT_NS}'


def test_none_fields_are_left_out_and_no_fields_is_no_point() -> None:
    assert line("m", {"t": "a"}, {"n": None, "x": 1.5}, AT) == f"m,t=a x=1.5 {AT_NS}"
    assert line("m", {"t": "a"}, {"n": None}, AT) is None
    assert line("m", {"t": "a"}, {}, AT) is None


def test_the_measurement_escapes_comma_space_and_backslash_not_equals() -> None:
    assert line("a,b c=d\\", {}, {"x": 1}, AT) == f"a\\,b\\ c=d\\\\ x=1i {AT_NS}"


def test_tag_keys_values_and_field_keys_escape_comma_equals_space_and_backslash() -> None:
    point = line("m", {"k,= \\": "v,= \\"}, {"f,= \\": 1}, AT)
    assert point == f"m,k\\,\\=\\ \\\\=v\\,\\=\\ \\\\ f\\,\\=\\ \\\\=1i {AT_NS}"
    assert parse(point or "") == ("m", {"k,= \\": "v,= \\"}, {"f,= \\": ("int", 1)}, AT_NS)


def test_a_trailing_backslash_in_a_tag_cannot_escape_the_separator() -> None:
    point = line("m", {"a": "x\\", "b": "y"}, {"f": 1}, AT) or ""
    assert point == f"m,a=x\\\\,b=y f=1i {AT_NS}"
    assert parse(point)[1] == {"a": "x\\", "b": "y"}


def test_tags_are_sorted_and_empty_tag_values_left_out() -> None:
    assert line("m", {"z": "1", "a": "2", "e": ""}, {"f": 1}, AT) == f"m,a=2,z=1 f=1i {AT_NS}"


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85"])
@pytest.mark.parametrize("where", ["measurement", "tag key", "tag value", "field key",
                                   "string field"])
def test_control_characters_anywhere_make_the_point_unwritable(where: str, char: str) -> None:
    text = f"a{char}b"
    args: dict[str, tuple[str, dict[str, str], dict[str, FieldValue | None]]] = {
        "measurement": (text, {}, {"f": 1}),
        "tag key": ("m", {text: "v"}, {"f": 1}),
        "tag value": ("m", {"k": text}, {"f": 1}),
        "field key": ("m", {}, {text: 1}),
        "string field": ("m", {}, {"f": text}),
    }
    with pytest.raises(UnwritablePoint, match=f"U\\+{ord(char):04X}"):
        line(*args[where], AT)


def test_a_newline_in_a_node_id_cannot_forge_a_second_point() -> None:
    with pytest.raises(UnwritablePoint):
        line("node", {"node_id": "n1\nnode,node_id=forged cpu=99"}, {"cpu": 1.0}, AT)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_unwritable(value: float) -> None:
    with pytest.raises(UnwritablePoint, match="finite"):
        line("m", {}, {"x": value}, AT)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_int64_are_unwritable(value: int) -> None:
    with pytest.raises(UnwritablePoint, match="64 bits"):
        line("m", {}, {"n": value}, AT)
    assert line("m", {}, {"n": 2**63 - 1}, AT) == f"m n={2**63 - 1}i {AT_NS}"


@pytest.mark.parametrize(("measurement", "tags", "fields"), [
    ("", {}, {"f": 1}), ("m", {"": "v"}, {"f": 1}), ("m", {}, {"": 1}),
    ("#comment", {}, {"f": 1}),
])
def test_empty_names_and_comment_lines_are_unwritable(
        measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None]) -> None:
    with pytest.raises(UnwritablePoint):
        line(measurement, tags, fields, AT)


def test_a_field_of_another_type_is_unwritable() -> None:
    with pytest.raises(UnwritablePoint, match="bytes"):
        line("m", {}, {"f": b"raw"}, AT)  # type: ignore[dict-item]


def test_timestamps_are_exact_integer_nanoseconds() -> None:
    assert line("m", {}, {"f": 1}, AT) == f"m f=1i {AT_NS}"
    # Through a float (timestamp() * 1e6) this one comes out a microsecond early.
    late = datetime(2040, 3, 3, 15, 15, 39, 27856, tzinfo=UTC)
    assert timestamp_ns(late) == 2_214_400_539_027_856_000
    five_ahead = timezone(timedelta(hours=5))
    assert timestamp_ns(datetime(2025, 1, 1, 5, tzinfo=five_ahead)) == timestamp_ns(
        datetime(2025, 1, 1, tzinfo=UTC))


def test_naive_or_out_of_range_timestamps_are_unwritable() -> None:
    with pytest.raises(UnwritablePoint, match="UTC offset"):
        line("m", {}, {"f": 1}, datetime(2025, 1, 1))
    with pytest.raises(UnwritablePoint, match="int64"):
        line("m", {}, {"f": 1}, datetime(2300, 1, 1, tzinfo=UTC))


def test_unwritable_point_is_a_value_error_with_a_reason() -> None:
    with pytest.raises(ValueError) as caught:
        line("m", {"k": "a\nb"}, {"f": 1}, AT)
    assert isinstance(caught.value, UnwritablePoint)
    assert "tag 'k'" in caught.value.reason and "cannot escape" in caught.value.reason


# --- generated points, read back ------------------------------------------------------------

_CONTROL = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
_names = st.text(st.characters(codec="utf-8", exclude_characters=_CONTROL), min_size=1,
                 max_size=12)
_specials = st.text(st.sampled_from("ab ,=\\\"é#"), min_size=1, max_size=8)
names = st.one_of(_names, _specials)
"""Any writable name: no control characters; separators, quotes and backslashes included."""
field_values: st.SearchStrategy[FieldValue | None] = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000).map(float),
    st.text(st.characters(codec="utf-8", exclude_characters=_CONTROL), max_size=12),
    _specials,
)
times = st.integers(min_value=0, max_value=(2**63 - 1) // 1000).map(
    lambda us: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us))
measurements = names.filter(lambda n: not n.startswith("#"))
tag_sets = st.dictionaries(names, st.one_of(names, st.just("")), max_size=4)
field_sets = st.dictionaries(names, field_values, max_size=5)


def _expected(fields: dict[str, FieldValue | None]) -> dict[str, tuple[str, Any]]:
    kinds = {bool: "bool", int: "int", float: "float", str: "str"}
    return {key: (kinds[type(value)], value) for key, value in fields.items()
            if value is not None}


@settings(max_examples=400, deadline=None)
@given(measurement=measurements, tags=tag_sets, fields=field_sets, at=times)
def test_every_writable_point_reads_back_exactly(
        measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None],
        at: datetime) -> None:
    point = line(measurement, tags, fields, at)
    if not _expected(fields):
        assert point is None
        return
    assert point is not None and "\n" not in point
    assert parse(point) == (measurement, {k: v for k, v in tags.items() if v},
                            _expected(fields), timestamp_ns(at))


# --- edges pinned by `make mutation` (docs/testing.md) -----------------------------------------

def test_the_smallest_int64_is_writable() -> None:
    assert line("m", {}, {"n": -(2**63)}, AT) == f"m n=-9223372036854775808i {AT_NS}"


@pytest.mark.parametrize("char", ["\x1f", "\x9f"])
def test_the_last_c0_and_c1_characters_are_control_characters(char: str) -> None:
    with pytest.raises(UnwritablePoint, match=f"U\\+{ord(char):04X}"):
        line("m", {"k": f"a{char}"}, {"f": 1}, AT)


def test_the_characters_just_outside_the_control_ranges_are_written() -> None:
    # U+0020 space (escaped in a tag), U+007E tilde, U+00A0 no-break space (plain text).
    assert line("m", {"k": " ~\xa0"}, {"f": 1}, AT) == f"m,k=\\ ~\xa0 f=1i {AT_NS}"


def test_the_reasons_name_the_part_and_quote_at_most_64_characters() -> None:
    long = "x" * 70
    with pytest.raises(UnwritablePoint) as caught:
        line("m", {"k": long + "\n"}, {"f": 1}, AT)
    assert caught.value.reason == (
        f"tag 'k' {'x' * 64!r} contains control character U+000A, "
        "which line protocol cannot escape")
    with pytest.raises(UnwritablePoint) as caught:
        line("#" + long, {}, {"f": 1}, AT)
    assert caught.value.reason == (
        f"measurement {'#' + 'x' * 63!r} would make the line a comment")
    with pytest.raises(UnwritablePoint) as caught:
        line("m", {"": "v"}, {"f": 1}, AT)
    assert caught.value.reason == "tag key must not be empty"
    with pytest.raises(UnwritablePoint) as caught:
        line("m", {}, {"f": 2**64}, AT)
    assert caught.value.reason == f"field 'f': integer {2**64} does not fit 64 bits"
    with pytest.raises(UnwritablePoint) as caught:
        line("m", {}, {"f": math.inf}, AT)
    assert caught.value.reason == "field 'f': inf is not a finite number"
    with pytest.raises(UnwritablePoint) as caught:
        line("m", {}, {"f": "a\x00"}, AT)
    assert caught.value.reason.startswith("field 'f' value 'a\\x00' contains control")
    with pytest.raises(UnwritablePoint) as caught:
        line("m", {}, {"f": [1]}, AT)  # type: ignore[dict-item]
    assert caught.value.reason == "field 'f': a list is not a field value"


class _Unknown(tzinfo):
    """A time zone that does not know its offset (utcoffset() is None)."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_timestamp_whose_zone_has_no_offset_is_unwritable() -> None:
    with pytest.raises(UnwritablePoint, match="has no UTC offset"):
        timestamp_ns(datetime(2025, 1, 1, tzinfo=_Unknown()))


def test_the_int64_nanosecond_range_ends_on_the_microseconds_inside_it() -> None:
    # int64 ns: -9223372036854775808 .. 9223372036854775807; the outermost whole microseconds.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    last = epoch + timedelta(microseconds=9_223_372_036_854_775)  # 2262-04-11T23:47:16.854775Z
    first = epoch - timedelta(microseconds=9_223_372_036_854_775)  # 1677-09-21T00:12:43.145225Z
    assert timestamp_ns(last) == 9_223_372_036_854_775_000
    assert timestamp_ns(first) == -9_223_372_036_854_775_000
    for beyond in (last + timedelta(microseconds=1), first - timedelta(microseconds=1)):
        with pytest.raises(UnwritablePoint, match="beyond int64"):
            timestamp_ns(beyond)


def test_the_reasons_for_field_keys_and_measurements_name_them() -> None:
    for measurement, fields, reason in [
        ("m", {"": 1}, "field key must not be empty"),
        ("", {"f": 1}, "measurement must not be empty"),
        ("m", {"a\tb": 1}, "field key 'a\\tb' contains control character U+0009, "
                           "which line protocol cannot escape"),
        ("a\tb", {"f": 1}, "measurement 'a\\tb' contains control character U+0009, "
                           "which line protocol cannot escape"),
    ]:
        with pytest.raises(UnwritablePoint) as caught:
            line(measurement, {}, fields, AT)
        assert caught.value.reason == reason
