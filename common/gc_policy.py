"""The cyclic garbage collector's policy for the worker: rare young collections, a frozen heap.

Why it exists: CPython runs a generation-0 collection every 700 net allocations of container
objects (dicts, lists, models). The pipeline allocates about 15 of them per event (decoded
models, folded states, rows, points), and nearly all of them are freed by reference counting
long before a collection could find a cycle, so at the default threshold the collector ran 1,742
young and 14 full collections for 80,000 events and took a third of the pipeline's CPU
(`bench/runtime.py`, measured with `gc.callbacks`: 3.5 s of 10.8 s). With the threshold below
it ran once, and the pipeline's CPU fell from 159.8 / 165.0 to 89.2 / 95.6 µs an event (min /
median of 3 runs of 100,000 events, load ~1).

Freezing what exists once the worker is built (modules, the Faust app, settings) keeps the full
collections from walking it again and again: it never becomes garbage. Cycles are still
collected: a young collection runs every `YOUNG_THRESHOLD` allocations, which bounds the
garbage a cycle can hold to that many objects.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 200_000
"""Net container allocations between two generation-0 collections (CPython's default: 700).

Above what one batch keeps alive until it is done: a batch of 10,000 backup events (the
worker's `FLEETSTREAM_BATCH_MAX_EVENTS`) holds ~15 containers an event. At 50,000 the collector
ran 20 young collections for 200,000 events in such batches, each walking the batch's live
objects: 0.47-0.49 s of 3.95 s of CPU (`gc.callbacks`, `bench/runtime.py`); at 200,000 none."""
OLDER_THRESHOLDS = (20, 10)
"""Collections of the younger generation between two of the next one (default: 10, 10)."""


def tune_for_throughput() -> None:
    """Collect and freeze what exists now, and make young collections rare (see the module)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
