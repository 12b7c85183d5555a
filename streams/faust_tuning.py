"""Every place fleetstream relies on Faust's internals, in one module, each pinned by a test.

Why it exists: a shim over a dependency's internals breaks silently when the dependency changes.
Keeping them here, each with a test in `tests/unit/streams/test_faust_tuning.py` that fails when
the upstream code it relies on changes, makes such a change loud.
- `committed_offset`: Faust's consumer keeps the last committed offset per partition
  (`Consumer._committed_offset`); the sweeps read it to tell a taken-over partition's backlog.
- `take_events` acknowledges its batch in a `finally` (faust-streaming #527/#189): the agent
  loop (`streams.pipeline.agent.consume`) holds an extra reference on every message in flight,
  which relies on `Message.incref` / `decref` and the ack happening by reference count.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP


def committed_offset(app: faust.App, tp: TP) -> int | None:
    """The offset this group last committed on `tp` (None: nothing committed yet)."""
    committed: Any = app.consumer._committed_offset  # type: ignore[attr-defined]
    offset: int | None = committed.get(tp)
    return offset
