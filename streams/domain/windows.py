"""Event-time window rollups: which windows an event updates, which are held, which expired.

Why it exists: the node and backup pipelines keep per-key rollups over windows of EVENT time
(tumbling 1 min and hopping 5 min / 1 min), served by `GET /nodes/{id}/rollups` and
`GET /jobs/{id}/rollups`. The window math is here, pure (no clock, no Faust, no I/O), so the
bounds, lateness and expiry are unit-tested with hand-worked numbers; `streams.state` stores the
result in a Faust windowed table and the views only read it.

Panes: both window kinds are built from one set of 1-minute panes (a tumbling 1-minute window
IS a pane; a hopping 5/1 window is the merge of its 5 panes), so an event costs one pane update,
not six window updates, and the two kinds always agree. Every aggregate here (counts, sums,
minima, maxima) merges exactly, so the merge of panes is the window's aggregate.

Time is the key's own watermark: the newest event time it has seen (arrival order, so a batch
folds as its events would one at a time). A window [start, end) is held while
`end > watermark - EXPIRES_S`; a pane is held while some held window still needs it. An event
whose pane is no longer held is late beyond expiry: it is counted in `late_dropped` and
dropped (not dead-lettered: it is valid, just too old to change anything shown). An event
within expiry updates its windows whatever its order. A window cannot close on silence (no
event, no watermark move): staleness stays with the timers (`sweep`), see docs/architecture.md.

What it must not do: read the clock, or know about tables or topics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Aggregate = dict[str, Any]
"""A pane's JSON-compatible aggregate (the domain decides its fields; see `Rollup`)."""

PANE_S = 60
EXPIRES_S = 300
"""A window is held until the key's watermark is this far past its end."""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A window kind: its name in the views, its size and its hop (multiples of `PANE_S`)."""

    name: str
    size_s: int
    step_s: int


TUMBLING_1M = WindowSpec("tumbling_1m", 60, 60)
HOPPING_5M = WindowSpec("hopping_5m", 300, 60)
SPECS = (TUMBLING_1M, HOPPING_5M)

# A pane is kept for as long as the earliest hopping window that contains it is held.
PANE_KEEP_S = EXPIRES_S + max(spec.size_s for spec in SPECS) - PANE_S


def pane_of(event_us: int) -> int:
    """The start (epoch seconds) of the pane an event time falls in."""
    return event_us // 1_000_000 // PANE_S * PANE_S


def window_starts(spec: WindowSpec, event_us: int) -> list[int]:
    """The starts (epoch seconds) of every `spec` window [start, start + size) holding the time."""
    seconds = event_us // 1_000_000
    last = seconds // spec.step_s * spec.step_s
    return list(range(last - spec.size_s + spec.step_s, last + 1, spec.step_s))


def held(end_s: int, watermark_us: int) -> bool:
    """Whether a window ending at `end_s` is still held under the key's watermark."""
    return end_s * 1_000_000 > watermark_us - EXPIRES_S * 1_000_000


def pane_held(pane_s: int, watermark_us: int) -> bool:
    return (pane_s + PANE_S) * 1_000_000 > watermark_us - PANE_KEEP_S * 1_000_000


def held_panes(watermark_us: int | None) -> range:
    """Every pane start that may be held under the watermark (oldest first; none when None)."""
    if watermark_us is None:
        return range(0)
    return range(_oldest_held_pane(watermark_us), pane_of(watermark_us) + 1, PANE_S)


def _oldest_held_pane(watermark_us: int) -> int:
    # The least pane p with (p + PANE_S) s > watermark - PANE_KEEP_S s (see `pane_held`).
    pane_us = PANE_S * 1_000_000
    return (watermark_us - PANE_KEEP_S * 1_000_000) // pane_us * PANE_S


Merge = Callable[[Aggregate, Aggregate], Aggregate]


@dataclass(frozen=True, slots=True)
class Rollup:
    """A domain's rollup: how pane aggregates merge (`merge` two, `combine` a batch's samples of
    one pane at once, the per-event path) and how a window's aggregate is shown."""

    merge: Merge
    combine: Callable[[Sequence[Aggregate]], Aggregate]
    show: Callable[[WindowSpec, Aggregate], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    """What a batch of a key's events does to its panes (the store merges and tombstones).

    `panes`: pane start -> the batch's aggregate for it (merged into what is stored);
    `expired`: pane starts held before the batch and no longer held (tombstoned if present);
    `watermark_us` and `late_dropped`: the key's new watermark and its running late count;
    `late`: how many of the batch's events were dropped as late; `merge`: the rollup's merge.
    """

    panes: dict[int, Aggregate]
    expired: tuple[int, ...]
    watermark_us: int | None
    late_dropped: int
    late: int
    merge: Merge


def update(watermark_us: int | None, late_dropped: int,
           samples: Iterable[tuple[int, Aggregate]], rollup: Rollup) -> WindowUpdate:
    """Fold `(event time µs, sample)` pairs (arrival order) into pane contributions."""
    before = watermark_us
    grouped: dict[int, list[Aggregate]] = {}
    late = 0
    # `pane_of` and `pane_held` inlined: this loop runs once per event (the hot path).
    pane_us, keep_us = PANE_S * 1_000_000, PANE_KEEP_S * 1_000_000
    # Without a watermark yet, the first event sets it (and this bound) before it is read.
    oldest_end_us = 0 if watermark_us is None else watermark_us - keep_us
    for event_us, sample in samples:
        if watermark_us is None or event_us > watermark_us:
            watermark_us = event_us
            oldest_end_us = event_us - keep_us
        pane_start_us = event_us // pane_us * pane_us
        if pane_start_us + pane_us <= oldest_end_us:
            late += 1
            continue
        pane = pane_start_us // 1_000_000
        same = grouped.get(pane)
        if same is None:
            grouped[pane] = [sample]
        else:
            same.append(sample)
    # A pane accepted when its events came may be expired by a newer event of the same batch.
    panes = {pane: same[0] if len(same) == 1 else rollup.combine(same)
             for pane, same in grouped.items()
             if watermark_us is not None and pane_held(pane, watermark_us)}
    expired: tuple[int, ...] = ()
    if before is not None and watermark_us is not None:
        held_before = held_panes(before)
        expired = tuple(range(held_before.start,
                              min(_oldest_held_pane(watermark_us), held_before.stop), PANE_S))
    return WindowUpdate(panes, expired, watermark_us, late_dropped + late, late,
                        rollup.merge)


WATERMARK_FIELD = "windows_watermark_us"
LATE_FIELD = "windows_late_dropped"
"""Where a key's state keeps its window watermark and late count (views and expiry read them)."""

State = dict[str, Any]


def watermark_of(state: Mapping[str, Any] | None) -> int | None:
    return None if state is None else state.get(WATERMARK_FIELD)


def late_dropped_of(state: Mapping[str, Any] | None) -> int:
    return 0 if state is None else int(state.get(LATE_FIELD, 0))


def carry(before: Mapping[str, Any], after: State) -> State:
    """`after` (a state a domain rebuilt from its own fields) with `before`'s window fields."""
    for name in (WATERMARK_FIELD, LATE_FIELD):
        if name in before:
            after[name] = before[name]
    return after


def fold_windows(before: State | None, after: State | None,
                 samples: Iterable[tuple[int, Aggregate]], rollup: Rollup
                 ) -> tuple[State | None, WindowUpdate]:
    """The window update of a key's batch, and its state (`after`; None: the domain left it
    unchanged) with the new watermark and late count, copied from `before` when only they moved.
    """
    change = update(watermark_of(before), late_dropped_of(before), samples, rollup)
    meta = {WATERMARK_FIELD: change.watermark_us, LATE_FIELD: change.late_dropped}
    if after is None:
        if before is None or all(before.get(name) == value for name, value in meta.items()):
            return after, change
        after = dict(before)
    after.update(meta)
    return after, change


def windows(spec: WindowSpec, panes: Mapping[int, Aggregate], watermark_us: int | None,
            merge: Merge) -> list[tuple[int, int, Aggregate]]:
    """The held `spec` windows with data, as (start, end, aggregate), by start ascending."""
    if watermark_us is None or not panes:
        return []
    starts = sorted({start for pane in panes
                     for start in window_starts(spec, pane * 1_000_000)})
    found = []
    for start in starts:
        end = start + spec.size_s
        if not held(end, watermark_us):
            continue
        parts = [panes[p] for p in range(start, end, PANE_S) if p in panes]
        if not parts:
            continue
        total = parts[0]
        for part in parts[1:]:
            total = merge(total, part)
        found.append((start, end, total))
    return found


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def shown(rollup: Rollup, panes: Mapping[int, Aggregate], watermark_us: int | None,
          late_dropped: int) -> dict[str, Any]:
    """The rollup views' body (without the key): every kind's held windows, and the late count."""
    return {
        "windows": {spec.name: [{"start": _iso(start), "end": _iso(end),
                                 **rollup.show(spec, agg)}
                                for start, end, agg in windows(spec, panes, watermark_us,
                                                               rollup.merge)]
                    for spec in SPECS},
        "late_dropped": late_dropped,
    }
