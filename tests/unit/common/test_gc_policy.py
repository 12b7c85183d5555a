"""The worker's collector policy: rare young collections, what exists frozen, cycles still found."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from common import gc_policy


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_young_collections_are_rare_and_the_built_heap_is_frozen() -> None:
    gc.unfreeze()
    gc_policy.tune_for_throughput()
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, 20, 10)
    assert gc.get_freeze_count() > 1_000  # the imported modules, at least


@pytest.mark.usefixtures("restored_gc")
def test_young_collections_still_run_on_their_own() -> None:
    gc_policy.tune_for_throughput()
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        kept = [[] for _ in range(gc_policy.YOUNG_THRESHOLD // 2)]
        assert collections == []  # fewer allocations than the threshold: none yet
        kept += [[] for _ in range(gc_policy.YOUNG_THRESHOLD)]
        assert collections  # past it: the collector ran by itself (it is not disabled)
    finally:
        gc.callbacks.remove(seen)
