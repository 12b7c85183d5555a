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
    assert gc.get_threshold() == (50_000, 20, 10)
    assert gc.get_freeze_count() > 1_000  # the imported modules, at least


@pytest.mark.usefixtures("restored_gc")
def test_a_cycle_made_afterwards_is_still_collected() -> None:
    gc_policy.tune_for_throughput()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    del a, b
    assert gc.collect() >= 2
