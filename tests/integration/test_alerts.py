"""The alerts projection: alerts become rows; a malformed one is dead-lettered, not skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from schemas.alert import Alert
from tests.integration.helpers import AppEnv, wait_for


async def test_a_malformed_alert_is_dead_lettered_and_the_next_one_is_recorded(
    app_env: AppEnv,
) -> None:
    await app_env.start_worker()
    raised = Alert.transition("worker.inactive", "w-dl", "raised", datetime.now(UTC))
    await app_env.produce(app_env.topic("alerts"), [
        (b"w-dl", b'{"kind": "worker.inactive", "subject": "w-dl"}'),
        (b"w-dl", raised.encode()),
    ])

    [letter] = await app_env.consume_json("deadletter", expect=1)
    assert "alert_id" in letter["error"]
    assert letter["origin_topic"] == app_env.topic("alerts")

    async def recorded() -> list[asyncpg.Record]:
        return await app_env.rows(
            "SELECT kind, subject, cleared_at FROM alerts WHERE alert_id = $1", raised.alert_id)

    [row] = await wait_for(recorded, what="the valid alert in the alerts table")
    assert (row["kind"], row["subject"], row["cleared_at"]) == ("worker.inactive", "w-dl", None)
