"""The clock-skew bound: FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS and the `latest` it gives `decode`.

Why: an event stamped in the future (a producer's clock ahead, or a forged `ts`) would sit at the
head of its job's or worker's history and mask every honest report until that time arrives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from common.settings import WORKER, ConfigError, Settings
from schemas.errors import InvalidEvent
from schemas.event import decode
from schemas.worker import WorkerHeartbeat

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def beat(at: datetime) -> bytes:
    return orjson.dumps({"event_id": "6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10", "source": "s",
                         "schema": "worker.heartbeat/1", "ts": at.isoformat(),
                         "worker_id": "w1", "cpu_usage": 1, "memory_usage": 1})


def test_the_default_skew_is_five_minutes_for_the_worker() -> None:
    assert Settings.load({}, dotenv=None, process=WORKER).max_clock_skew_seconds == 300
    assert "FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS" in Settings.load({}, dotenv=None).masked(WORKER)


@pytest.mark.parametrize("raw", ["0", "-5", "soon"])
def test_the_skew_must_be_a_positive_number(raw: str) -> None:
    with pytest.raises(ConfigError, match="FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS"):
        Settings.load({"FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS": raw}, dotenv=None)


def test_now_plus_skew_accepts_a_slightly_fast_clock_and_rejects_a_far_one() -> None:
    skew = Settings.load({"FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS": "60"},
                         dotenv=None).max_clock_skew_seconds
    latest = NOW + timedelta(seconds=skew)
    assert decode(WorkerHeartbeat, beat(NOW + timedelta(seconds=59)), latest=latest)
    with pytest.raises(InvalidEvent) as caught:
        decode(WorkerHeartbeat, beat(NOW + timedelta(seconds=90)), latest=latest)
    assert caught.value.reason.startswith("ts: lies 30 s in the future")
