"""`GET /alerts`' query validation and row shape: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from faust.web.exceptions import ValidationError as BadRequest

from streams.web.alerts import DEFAULT_LIMIT, MAX_LIMIT, alert_view, parse_query


def test_the_defaults_are_the_open_alerts_a_bounded_page_at_a_time() -> None:
    assert parse_query({}) == ("open", DEFAULT_LIMIT)
    assert parse_query({"status": "all", "limit": str(MAX_LIMIT)}) == ("all", MAX_LIMIT)
    assert parse_query({"status": "cleared", "limit": "1"}) == ("cleared", 1)


@pytest.mark.parametrize("query", [
    {"status": "Open"}, {"status": "open;DROP TABLE alerts"}, {"status": ""},
    {"limit": "0"}, {"limit": str(MAX_LIMIT + 1)}, {"limit": "-1"}, {"limit": "+5"},
    {"limit": " 5"}, {"limit": "5_0"}, {"limit": "1e3"}, {"limit": "\u0665"}, {"limit": ""},
])
def test_an_unknown_status_or_a_limit_out_of_range_is_a_400(query: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        parse_query(query)


def test_a_row_answers_rfc3339_times_and_its_jsonb_detail_as_an_object() -> None:
    raised = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    row = {"alert_id": "a1", "kind": "worker.inactive", "subject": "w1", "raised_at": raised,
           "cleared_at": None, "detail": '{"inactive_since": "2026-12-01T20:00:00Z"}'}
    assert alert_view(row) == {
        "alert_id": "a1", "kind": "worker.inactive", "subject": "w1",
        "raised_at": "2026-12-01T20:00:00Z", "cleared_at": None,
        "detail": {"inactive_since": "2026-12-01T20:00:00Z"}}
