"""Our line protocol against influxdb3-python's own `Point`, on generated points.

Why it exists apart from `test_line_protocol.py`: it needs influxdb3-python, which the mutation
venv (`make mutation`) does not have; the spec's rules and the spec reader live there. Where
`Point` is lenient or lossy, the spec wins and the difference is asserted (see that module).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client_3 import Point

from streams.sinks.line_protocol import FieldValue, UnwritablePoint, line
from tests.unit.streams.sinks.test_line_protocol import AT, AT_NS, field_values, names, parse, times


def _point_line(measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None],
                at: datetime) -> str:
    # influxdb3-python ships py.typed, but Point's methods are untyped.
    point = Point(measurement)  # type: ignore[no-untyped-call]
    for key, value in tags.items():
        point.tag(key, value)  # type: ignore[no-untyped-call]
    for key, field in fields.items():
        point.field(key, field)  # type: ignore[no-untyped-call]
    return str(point.time(at).to_line_protocol())  # type: ignore[no-untyped-call]


# Where Point follows the spec: no backslash in names (it does not escape them).
_point_names = names.filter(lambda n: "\\" not in n)


@settings(max_examples=400, deadline=None)
@given(measurement=_point_names.filter(lambda n: not n.startswith("#")),
       tags=st.dictionaries(_point_names, st.one_of(_point_names, st.just("")), max_size=4),
       fields=st.dictionaries(_point_names, field_values, max_size=5), at=times)
def test_points_match_influxdb3_pythons_point(
        measurement: str, tags: dict[str, str], fields: dict[str, FieldValue | None],
        at: datetime) -> None:
    ours = line(measurement, tags, fields, at)
    theirs = _point_line(measurement, tags, fields, at)
    if ours is None:
        assert theirs == ""
        return
    assert parse(ours) == parse(theirs)
    # Point writes `1` for 1.0 (both floats in line protocol): only then may the texts differ.
    if not any(isinstance(v, float) and v.is_integer() for v in fields.values()):
        assert ours == theirs


@pytest.mark.parametrize(("tags", "theirs"), [
    ({"k": "a\nb"}, "m,k=a\\nb f=1i"),      # stored as backslash + n: the value changes
    ({"k": "a\\"}, "m,k=a\\  f=1i"),        # the value gains an escaped space
])
def test_where_point_is_lossy_we_refuse_or_escape_exactly(
        tags: dict[str, str], theirs: str) -> None:
    assert _point_line("m", tags, {"f": 1}, AT) == f"{theirs} {AT_NS}"
    try:
        ours = line("m", tags, {"f": 1}, AT)
    except UnwritablePoint:
        return
    assert ours is not None and parse(ours)[1] == tags
