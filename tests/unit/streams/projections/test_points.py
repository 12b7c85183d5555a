"""Points-topic records: a message per key and batch, lines joined by newlines, empty lines
dropped; a batch's messages coalesced into few records, in order, none over the size bound."""

from __future__ import annotations

from streams.projections.points import MAX_RECORD_BYTES, SINK, coalesce, point_message, split_lines
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


def test_a_batch_of_messages_travels_in_one_record_keyed_by_its_first() -> None:
    messages = [Message(b"a", b"m a=1i 1"), Message(b"b", b"m b=1i 1\nm b=2i 2"),
                Message(b"c", b"m c=1i 1")]
    assert coalesce(messages) == [Message(b"a", b"m a=1i 1\nm b=1i 1\nm b=2i 2\nm c=1i 1")]
    assert split_lines(coalesce(messages)[0].value) == [
        line for message in messages for line in split_lines(message.value)]


def test_records_end_where_the_next_message_would_pass_the_bound() -> None:
    messages = [Message(bytes([k]), bytes([k]) * 4) for k in b"abcde"]
    # 4 + 1 + 4 = 9 bytes fit a bound of 9; a third message would make 14.
    assert coalesce(messages, 9) == [Message(b"a", b"aaaa\nbbbb"), Message(b"c", b"cccc\ndddd"),
                                     Message(b"e", b"eeee")]
    assert coalesce(messages, 8) == messages
    assert coalesce(messages, 14) == [Message(b"a", b"aaaa\nbbbb\ncccc"),
                                      Message(b"d", b"dddd\neeee")]


def test_a_message_larger_than_the_bound_stays_alone_and_nothing_is_empty() -> None:
    big = Message(b"big", b"x" * 20)
    assert coalesce([Message(b"a", b"aa"), big, Message(b"b", b"bb")], 10) == [
        Message(b"a", b"aa"), big, Message(b"b", b"bb")]
    assert coalesce([]) == []
    assert MAX_RECORD_BYTES == 256 * 1024
