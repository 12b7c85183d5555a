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
