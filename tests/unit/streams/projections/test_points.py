"""Points-topic records: one per key and batch, lines joined by newlines, empty lines dropped."""

from __future__ import annotations

from streams.projections.points import SINK, point_message, split_lines
from streams.sinks.message import Message


def test_lines_of_a_key_travel_in_one_record_without_the_missing_ones() -> None:
    assert point_message("job-é", ["m a=1i 1", None, "", "m a=2i 2"]) == Message(
        b"job-\xc3\xa9", b"m a=1i 1\nm a=2i 2")


def test_no_lines_is_no_record() -> None:
    assert point_message("k", [None, ""]) is None
    assert point_message("k", []) is None


def test_the_tsdb_pipeline_reads_the_lines_back() -> None:
    assert split_lines(b"m a=1i 1\n\nm,t=\xc3\xa9 a=2i 2\n") == ["m a=1i 1", "m,t=é a=2i 2"]
    assert split_lines(b"") == []


def test_the_sink_name_is_points() -> None:
    assert SINK == "points"
