"""When the sweeps may first act on a state: never later than the sweep itself says.

The runtime looks at a state only once its due time has come (`streams.pipeline.due`), so a
due time later than the truth would delay an alert. Each case checks the sweep does nothing just
before the due time and acts at it, with the times worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.domain.backup import STALE, STALLED, apply_events, next_staleness_us, sweep
from streams.domain.node import NodeState, advance
from streams.domain.node import sweep as node_sweep
from streams.domain.node import sweep_due_us as node_due_us
from tests.unit.streams.domain.test_backup import report
from tests.unit.streams.domain.test_node import snap

US = 1_000_000


def test_a_running_job_is_due_at_stale_then_at_stalled_then_never() -> None:
    job = apply_events(None, [report(1, [10])])
    assert job is not None
    last = job["last_telemetry_us"]
    assert next_staleness_us(job, 3, 6) == last + 3 * US
    assert sweep(job, last + 3 * US - 1, 3, 6) is None
    stale, _ = sweep(job, last + 3 * US, 3, 6) or (job, [])
    assert stale["stale_level"] == STALE
    assert next_staleness_us(stale, 3, 6) == last + 6 * US
    assert sweep(stale, last + 6 * US - 1, 3, 6) is None
    stalled, _ = sweep(stale, last + 6 * US, 3, 6) or (stale, [])
    assert stalled["stale_level"] == STALLED
    assert next_staleness_us(stalled, 3, 6) is None


def test_a_fractional_threshold_is_rounded_down_never_up() -> None:
    job = apply_events(None, [report(1, [10])])
    assert job is not None
    last = job["last_telemetry_us"]
    assert next_staleness_us(job, 2.5000005, 6) == last + 2_500_000
    assert sweep(job, last + 2_500_001, 2.5000005, 6) is not None


def test_a_pending_job_never_goes_stale() -> None:
    job = apply_events(None, [report(1, [0], status="pending")])
    assert job is not None and job["ended_seq"] is None
    assert next_staleness_us(job, 3, 6) is None
    assert sweep(job, job["last_telemetry_us"] + 3600 * US, 3, 6) is None


def test_an_ended_job_never_goes_stale() -> None:
    job = apply_events(None, [report(1, [10]), report(2, [10], status="completed")])
    assert job is not None
    assert next_staleness_us(job, 3, 6) is None


def node_value(seconds: float, silent: bool = False) -> dict[str, object]:
    step = advance(None, snap(seconds))
    assert step.state is not None
    state = NodeState(step.state.snapshot, step.state.rates, silent=silent)
    return state.to_value()


def test_a_reporting_node_is_due_when_it_falls_silent_and_a_silent_one_at_retention() -> None:
    value = node_value(0)
    last = int((datetime(2025, 12, 17, 10, 0, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC))
               / timedelta(microseconds=1))
    assert node_due_us(value, 180, 3600 * US) == last + 180 * US
    state = NodeState.from_value(value)
    assert node_sweep(state, last + 180 * US - 1, 180) is None
    assert node_sweep(state, last + 180 * US, 180) is not None
    assert node_due_us(node_value(0, silent=True), 180, 3600 * US) == last + 3600 * US
    # Retention shorter than the silence threshold: retention comes first.
    assert node_due_us(value, 180, 60 * US) == last + 60 * US
