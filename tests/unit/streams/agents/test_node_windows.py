"""The node pipeline's steps keep the node's window watermark and late count (regression: a node
that fell silent lost them to the silence sweep, and its rollups vanished from the view)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.node import NodeSnapshot, snapshot_event_id
from streams.agents.node import Nodes
from streams.domain import windows as w

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def snap(offset_s: float) -> NodeSnapshot:
    at = T0 + timedelta(seconds=offset_s)
    return NodeSnapshot(event_id=snapshot_event_id("n1", at), source="test", ts=at,
                        node_id="n1", cpu_percent=10.0, memory_percent=20.0)


def test_the_silence_sweep_keeps_the_window_fields() -> None:
    domain = Nodes(silent_after_s=180, retention_s=86_400)
    now_us = round((T0 + timedelta(seconds=30)).timestamp() * 1_000_000)
    step = domain.fold("n1", None, [snap(0), snap(20)], now_us)
    assert step.state is not None and step.windows is not None
    assert step.state[w.WATERMARK_FIELD] == round((T0 + timedelta(seconds=20)).timestamp() * 1e6)
    swept = domain.sweep("n1", step.state, now_us + 600 * 1_000_000)
    assert swept is not None and swept.state is not None
    assert swept.state["silent"] is True
    assert swept.state[w.WATERMARK_FIELD] == step.state[w.WATERMARK_FIELD]
    assert swept.state[w.LATE_FIELD] == 0


def test_a_late_snapshot_leaves_the_node_as_it_was_and_lands_in_its_window() -> None:
    domain = Nodes(silent_after_s=180, retention_s=86_400)
    now_us = round((T0 + timedelta(seconds=30)).timestamp() * 1_000_000)
    first = domain.fold("n1", None, [snap(20)], now_us)
    late = domain.fold("n1", first.state, [snap(5)], now_us)
    assert late.state is None  # the latest snapshot and the watermark did not move
    assert late.windows is not None
    assert late.windows.late == 0 and list(late.windows.panes) == [int(T0.timestamp())]
