"""The due index and the sweep that uses it: only states whose time has come are looked at."""

from __future__ import annotations

from streams.pipeline.domain import State
from streams.pipeline.due import DueIndex
from streams.pipeline.health import SinkHealth
from streams.pipeline.runtime import Pipeline
from tests.unit.streams.pipeline.memory import (
    T0,
    Counters,
    Generations,
    Journal,
    MemoryOutbound,
    MemorySink,
    Toy,
    record,
)


def test_keys_come_out_once_their_time_has_come_in_time_order() -> None:
    due = DueIndex()
    due.schedule("late", 30)
    due.schedule("early", 10)
    due.schedule("never", None)
    assert due.pop_due(9) == []
    assert due.pop_due(10) == ["early"]
    assert due.pop_due(100) == ["late"]
    assert due.pop_due(1000) == [] and len(due) == 0


def test_a_later_time_replaces_the_queued_one_and_so_does_an_earlier_one() -> None:
    due = DueIndex()
    due.schedule("k", 10)
    due.schedule("k", 50)  # the state changed: due later
    assert due.pop_due(10) == []
    assert due.pop_due(50) == ["k"]
    due.schedule("k", 50)
    due.schedule("k", 20)  # due earlier: the earlier entry wins, the later one is void
    assert due.pop_due(20) == ["k"]
    assert due.pop_due(60) == []


def test_a_forgotten_key_never_comes_out() -> None:
    due = DueIndex()
    due.schedule("k", 10)
    due.forget("k")
    assert due.pop_due(100) == []


class Watched(Counters):
    """The toy domain, due `total` µs after T0, counting the states its sweep looked at."""

    def __init__(self) -> None:
        self.looked_at: list[str] = []

    def sweep(self, key: str, state: State, now_us: int) -> None:
        self.looked_at.append(key)

    def sweep_due_us(self, state: State) -> int:
        total: int = state["total"]
        return T0 + total


async def test_a_sweep_looks_only_at_due_states_and_rereads_the_table_after_a_rebalance() -> None:
    domain, store, journal = Watched(), Generations(), Journal()
    pipeline: Pipeline[Toy] = Pipeline(domain, store, [MemorySink("db", journal)],
                                       MemoryOutbound(journal), SinkHealth(),
                                       max_clock_skew_s=300)
    await pipeline.process([record("a", 5, offset=0), record("b", 50, offset=1)], T0)
    await pipeline.sweep(T0 + 4)
    assert domain.looked_at == []
    await pipeline.sweep(T0 + 5)
    assert domain.looked_at == ["a"]
    # Nothing changed `a`: it is looked at again at each sweep (its time has come), not `b`.
    await pipeline.sweep(T0 + 6)
    assert domain.looked_at == ["a", "a"]
    # A state that arrived without the runtime (recovery, a takeover) counts after a rebalance.
    store.data["c"] = {"total": 1, "_partition": 0}
    await pipeline.sweep(T0 + 7)
    assert "c" not in domain.looked_at
    store.current = 1
    await pipeline.sweep(T0 + 7)
    assert domain.looked_at[-2:] == ["c", "a"]  # in due-time order: c at T0+1, a at T0+5
