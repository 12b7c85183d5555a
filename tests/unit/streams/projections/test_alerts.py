"""The `alerts` rows: a raise inserts, a clear closes by id, an older clear by kind and subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.alert import Alert
from streams.projections.alerts import CLEARED, CLEARED_BY_SUBJECT, RAISED, row
from streams.projections.rows import Row

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_raised_alert_inserts_its_row_with_the_detail_as_json_text() -> None:
    alert = Alert.transition("backup.stale", "job-7", "raised", AT, job_type="backup", seconds=90)
    assert row(alert) == Row(RAISED, (alert.alert_id, "backup.stale", "job-7", AT,
                                      '{"job_type":"backup","seconds":90}'))


def test_a_clear_naming_its_raise_closes_that_row() -> None:
    alert = Alert.transition("backup.stale", "job-7", "cleared", AT, clears="raised-id")
    assert row(alert) == Row(CLEARED, ("raised-id", AT))


def test_an_older_clear_without_clears_closes_by_kind_and_subject() -> None:
    alert = Alert.transition("backup.stale", "job-7", "cleared", AT + timedelta(seconds=1))
    assert row(alert) == Row(CLEARED_BY_SUBJECT, ("backup.stale", "job-7",
                                                  AT + timedelta(seconds=1)))


def test_the_statements_raises_first_then_clears_by_id_then_by_subject() -> None:
    assert RAISED.sql == (
        "INSERT INTO alerts (alert_id, kind, subject, raised_at, detail) SELECT * FROM "
        "unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[]) "
        "ON CONFLICT (alert_id) DO NOTHING")
    assert CLEARED.sql == (
        "UPDATE alerts SET cleared_at = u.at FROM unnest($1::text[], $2::timestamptz[]) "
        "AS u(clears, at) WHERE alerts.alert_id = u.clears AND alerts.cleared_at IS NULL")
    assert CLEARED_BY_SUBJECT.sql == (
        "UPDATE alerts SET cleared_at = u.at FROM "
        "unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(kind, subject, at) "
        "WHERE alerts.kind = u.kind AND alerts.subject = u.subject "
        "AND alerts.cleared_at IS NULL AND alerts.raised_at <= u.at")
    assert (RAISED.order, CLEARED.order, CLEARED_BY_SUBJECT.order) == (0, 1, 2)
    assert (CLEARED.name, CLEARED_BY_SUBJECT.name) == ("clear:alerts",
                                                       "clear_by_subject:alerts")
