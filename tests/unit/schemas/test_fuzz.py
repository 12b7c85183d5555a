"""Fuzz every edge: any bytes become a valid model or `InvalidEvent`, never another exception.

Regression: values that passed validation but not the sinks (int4/int8 overflows, far-future
offsets raising OverflowError in `astimezone`, NUL, control characters in ids) crashed agents or
stalled partitions. Inputs: arbitrary JSON and mutations of valid bodies of every wire schema and
every seed adapter (tests/strategies.py). About 10,500 inputs in all; an accepted event must
also survive what the workers do next: re-encoding, and its ids as line-protocol tags.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.adapters.node import from_seed_api, from_seed_ws
from schemas.adapters.seed003 import from_seed_body
from schemas.alert import Alert
from schemas.backup import BackupProgress
from schemas.errors import InvalidEvent
from schemas.event import INT8_MAX, Event, decode
from schemas.node import NodeSnapshot
from schemas.vm import VmSample
from schemas.worker import WorkerHeartbeat, from_body
from streams.sinks.line_protocol import line
from tests.strategies import (
    SCHEMAS,
    SEED_BODIES,
    hostile_json,
    mutated_event_json,
    valid_event,
)

RECEIVED = datetime(2030, 6, 1, tzinfo=UTC)
LATEST = datetime(2031, 1, 1, tzinfo=UTC)
"""Later than every valid time the strategies draw (2020..2030), earlier than far-future ones."""

MODELS: dict[str, type[BaseModel]] = {
    "node": NodeSnapshot, "vm": VmSample, "backup": BackupProgress,
    "heartbeat": WorkerHeartbeat, "alert": Alert,
}


def _decoder(model: type[BaseModel]) -> Callable[[bytes], BaseModel]:
    return lambda raw: decode(model, raw, latest=LATEST)


TARGETS: dict[str, Callable[[bytes], BaseModel]] = {
    **{name: _decoder(model) for name, model in MODELS.items()},
    "seed_api": lambda raw: from_seed_api(raw, received_at=RECEIVED, source="fuzz",
                                          latest=LATEST),
    "seed_ws": lambda raw: from_seed_ws(raw, source="fuzz", latest=LATEST),
    "seed003": lambda raw: from_seed_body("backup", "job-1", raw, "http:fuzz", latest=LATEST),
    "heartbeat_body": lambda raw: from_body(raw, "http:fuzz", RECEIVED, latest=LATEST),
}

_TAGGED = ("source", "node_id", "job_id", "worker_id", "host", "vm_name", "subject")
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])


def _accepted(result: BaseModel) -> None:
    """What the workers do with an accepted event must not fail either."""
    assert type(result) in MODELS.values()
    if isinstance(result, Event):
        assert decode(type(result), result.encode()) == result
        at = result.ts
    else:
        at = getattr(result, "at")  # noqa: B009 (Alert: typed access would need a cast)
    tags = {name: getattr(result, name) for name in _TAGGED if hasattr(result, name)}
    assert line("fuzz", tags, {"seen": 1}, at) is not None
    if isinstance(result, BackupProgress):
        assert sum(disk.bytes_transferred for disk in result.disks) <= INT8_MAX


def _outcome(target: str, raw: bytes) -> None:
    try:
        result = TARGETS[target](raw)
    except InvalidEvent as exc:
        assert exc.errors and all(error.field and error.message for error in exc.errors)
        return
    _accepted(result)


def _path_job_type(body: dict[str, Any]) -> str:
    return str(body.get("job_type", "backup"))


@pytest.mark.parametrize("schema", SCHEMAS + SEED_BODIES)
@settings(_FUZZ, max_examples=100)
@given(data=st.data())
def test_every_valid_body_is_accepted(schema: str, data: st.DataObject) -> None:
    body = data.draw(valid_event(schema))
    raw = orjson.dumps(body)
    if schema == "seed003":
        result: BaseModel = from_seed_body(_path_job_type(body), "job-1", raw, "http:fuzz",
                                           latest=LATEST)
    else:
        result = TARGETS[schema](raw)
    _accepted(result)


@pytest.mark.parametrize("target", SCHEMAS + SEED_BODIES)
@settings(_FUZZ, max_examples=900)
@given(data=st.data())
def test_a_mutated_body_is_accepted_or_invalid(target: str, data: st.DataObject) -> None:
    _outcome(target, data.draw(mutated_event_json(target)))


@settings(_FUZZ, max_examples=1500)
@given(raw=hostile_json())
def test_arbitrary_json_is_accepted_or_invalid_at_every_edge(raw: bytes) -> None:
    for target in TARGETS:
        _outcome(target, raw)
