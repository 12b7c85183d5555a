"""An alert's raise and its clear reach Alertmanager as one alert: same labels, start, then end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.alert import Alert, alert_id
from streams.projections import alertmanager

RAISED_AT = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
CLEARED_AT = RAISED_AT + timedelta(minutes=7)


def raised() -> Alert:
    return Alert.transition("backup.stalled", "job-7", "raised", RAISED_AT, job_type="backup")


def test_a_raise_and_its_clear_carry_the_same_labels_so_alertmanager_sees_one_alert() -> None:
    start = alertmanager.alert(raised())
    end = alertmanager.alert(Alert.transition("backup.stalled", "job-7", "cleared", CLEARED_AT,
                                              clears=raised().alert_id))
    assert start is not None and end is not None
    assert start["labels"] == end["labels"] == {
        "alertname": "backup.stalled", "subject": "job-7", "severity": "critical",
        "alert_id": alert_id("backup.stalled", "job-7", "raised", RAISED_AT)}
    assert start["startsAt"] == "2026-03-01T12:00:00.250000Z"
    assert end["endsAt"] == "2026-03-01T12:07:00.250000Z"
    assert "startsAt" not in end, "Alertmanager keeps the raise's start"


def test_a_raised_alert_stays_firing_without_resends_until_its_clear() -> None:
    start = alertmanager.alert(raised())
    assert start is not None
    ends = datetime.fromisoformat(start["endsAt"])
    # Far beyond Alertmanager's resolve_timeout (5 min): only the clear ends it.
    assert ends - RAISED_AT == alertmanager.FIRING_HORIZON >= timedelta(days=365)


def test_resending_a_transition_gives_the_identical_alert() -> None:
    assert alertmanager.alert(raised()) == alertmanager.alert(raised())


def test_a_clear_that_does_not_name_its_raise_is_not_sent() -> None:
    # Records from before `clears` existed cannot name the labels of the alert they end.
    old = Alert.transition("worker.inactive", "w-1", "cleared", CLEARED_AT)
    assert alertmanager.alert(old) is None


def test_every_kind_has_a_severity_and_an_unknown_kind_is_a_warning() -> None:
    kinds = {"backup.stale": "warning", "backup.stalled": "critical",
             "worker.inactive": "warning", "node.silent": "warning", "disk.full": "warning"}
    for kind, severity in kinds.items():
        assert alertmanager.labels(kind, "s", "id")["severity"] == severity


def test_both_records_carry_the_summary_annotation() -> None:
    start = alertmanager.alert(raised())
    end = alertmanager.alert(Alert.transition("backup.stalled", "job-7", "cleared", CLEARED_AT,
                                              clears=raised().alert_id))
    assert start is not None and end is not None
    assert start["annotations"] == end["annotations"] == {"summary": "backup.stalled job-7"}
