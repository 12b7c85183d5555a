"""The Faust internals `streams.state.WindowedState` relies on, pinned: if faust changes how a
windowed table names its windows or restores its JSON keys, these fail before a restart does."""

from __future__ import annotations

from typing import Any

import orjson

from streams.domain import rollups
from streams.domain.windows import PANE_KEEP_S, PANE_S
from streams.tables import node_rollups


def test_a_windowed_key_restored_from_its_json_changelog_key_is_the_key_written() -> None:
    written = node_rollups._key("n1", 1_800_000_060)
    assert written == ("n1", (1_800_000_060.0, 1_800_000_119.9))
    # The changelog key is JSON (a list); recovery hands faust's `_to_key` the decoded list.
    table: Any = node_rollups.table
    assert table._to_key(orjson.loads(orjson.dumps(written))) == written


def test_the_windowed_table_declares_one_minute_panes_and_their_keep() -> None:
    window: Any = node_rollups.window
    assert (window.size, window.step, window.expires) == (PANE_S, PANE_S, PANE_KEEP_S)
    assert node_rollups.rollup is rollups.NODE
    table: Any = node_rollups.table
    assert table.key_serializer == "json"


def test_changelog_records_are_encoded_as_faust_encodes_them() -> None:
    # Recovery (Faust's and streams.bulk_recovery) decodes what Faust's send_changelog encodes.
    from streams.tables import jobs

    value = {"job_id": "j1", "bytes": 7, "at": "2026-12-02T10:00:00Z", "_partition": 3}
    windowed = node_rollups._key("n1", 1_800_000_060)
    pane = {"n": 2, "sum": 1.5}
    for state, key, stored_key, stored in (
            (jobs, "j1", b"j1", value), (node_rollups, windowed, windowed, pane)):
        table: Any = state.table
        topic = table.changelog_topic
        state.changelog.pending.clear()
        if state is jobs:
            jobs.put(key, dict(value), 3)
            jobs.table.data.pop(key)
        else:
            node_rollups._send(3, windowed, pane)
        [record] = state.changelog.pending
        state.changelog.pending.clear()
        assert record.topic == topic.get_topic_name()
        assert record.partition == 3
        assert record.key == topic.prepare_key(stored_key, table.key_serializer, None, {})[0]
        assert record.value == topic.prepare_value(stored, table.value_serializer, None, {})[0]
