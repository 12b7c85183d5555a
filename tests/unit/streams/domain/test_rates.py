"""Reset-aware counter rates: never negative, None across resets and non-advancing time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.rates import optional_rate, rate, rates

counters = st.integers(min_value=0, max_value=2**64)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)


def test_rate_is_the_counter_increase_per_second() -> None:
    assert rate(1000, 10.0, 6000, 15.0) == 1000.0


def test_an_unchanged_counter_has_rate_zero() -> None:
    assert rate(42, 1.0, 42, 2.0) == 0.0


def test_counter_reset_gives_no_rate() -> None:
    assert rate(10_000, 1.0, 50, 2.0) is None


def test_same_or_earlier_time_gives_no_rate() -> None:
    assert rate(1, 5.0, 2, 5.0) is None
    assert rate(1, 5.0, 2, 4.0) is None


def test_missing_counter_gives_no_rate() -> None:
    assert optional_rate(None, 1.0, 5, 2.0) is None
    assert optional_rate(5, 1.0, None, 2.0) is None


def test_rates_of_several_counters() -> None:
    assert rates({"rx": 0, "tx": 100}, 0.0, {"rx": 10, "tx": 50, "new": 1}, 2.0) == {
        "rx": 5.0, "tx": None, "new": None}


@given(counters, times, counters, times)
def test_rates_are_never_negative(prev: int, prev_ts: float, value: int, ts: float) -> None:
    result = rate(prev, prev_ts, value, ts)
    assert result is None or result >= 0


@given(counters, times, counters, times)
def test_a_reset_or_stalled_clock_never_gives_a_rate(
        prev: int, prev_ts: float, value: int, ts: float) -> None:
    if value < prev or ts <= prev_ts:
        assert rate(prev, prev_ts, value, ts) is None


@given(st.lists(st.tuples(counters, st.floats(min_value=0.001, max_value=1e6)), min_size=2))
def test_a_sequence_with_resets_only_gives_non_negative_rates(
        samples: list[tuple[int, float]]) -> None:
    clock = 0.0
    prev_value, prev_ts = samples[0][0], clock
    for value, step in samples[1:]:
        clock += step
        result = rate(prev_value, prev_ts, value, clock)
        assert result is None or result >= 0
        prev_value, prev_ts = value, clock
