"""The start-up probe's verdicts: every refusal named at once, an outage only logged."""

from __future__ import annotations

import logging

import pytest

from common.settings import Settings
from streams import startup
from streams.pipeline.sink import SinkMisconfigured, SinkUnavailable

SETTINGS = Settings.load({}, dotenv=None, process="worker")


def probes(**outcomes: Exception | None) -> tuple[tuple[str, startup.Probe], ...]:
    def probe(outcome: Exception | None) -> startup.Probe:
        async def run(_: Settings) -> None:
            if outcome is not None:
                raise outcome
        return run
    return tuple((name, probe(outcome)) for name, outcome in outcomes.items())


async def test_every_refusing_sink_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "PROBES", probes(
        postgres=SinkMisconfigured("PostgreSQL 28P01: password authentication failed"),
        tsdb=SinkMisconfigured("TSDB HTTP 401 at http://tsdb:8428")))
    with pytest.raises(startup.StartupRefused) as refused:
        await startup.probe_sinks(SETTINGS)
    assert refused.value.problems == [
        "postgres: PostgreSQL 28P01: password authentication failed",
        "tsdb: TSDB HTTP 401 at http://tsdb:8428"]


async def test_an_unreachable_sink_is_waited_for_not_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(startup, "PROBES", probes(
        postgres=SinkUnavailable("PostgreSQL unreachable: ConnectionRefusedError"), tsdb=None))
    with caplog.at_level(logging.INFO, logger="streams.startup"):
        await startup.probe_sinks(SETTINGS)
    assert "waiting for postgres: PostgreSQL unreachable" in caplog.text
    assert "startup.probe sink=tsdb ok" in caplog.text


async def test_a_refusal_wins_over_another_sinks_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "PROBES", probes(
        postgres=SinkUnavailable("PostgreSQL unreachable"),
        tsdb=SinkMisconfigured("TSDB HTTP 403")))
    with pytest.raises(startup.StartupRefused) as refused:
        await startup.probe_sinks(SETTINGS)
    assert refused.value.problems == ["tsdb: TSDB HTTP 403"]


async def test_an_error_no_sink_classified_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "PROBES", probes(postgres=ValueError("bad DSN"), tsdb=None))
    with pytest.raises(ValueError, match="bad DSN"):
        await startup.probe_sinks(SETTINGS)
