"""Shared helpers of the node integration tests."""

from __future__ import annotations

import asyncpg

from tests.integration.helpers import AppEnv


async def history(app_env: AppEnv, node_id: str) -> list[asyncpg.Record]:
    """The node's telemetry_history rows, oldest first (none before the table exists)."""
    return await app_env.rows(
        "SELECT * FROM telemetry_history WHERE node_id = $1 ORDER BY timestamp", node_id)


async def history_of_at_least(app_env: AppEnv, node_id: str, count: int
                              ) -> list[asyncpg.Record]:
    """The node's rows once there are at least `count` of them (empty before: for wait_for)."""
    rows = await history(app_env, node_id)
    return rows if len(rows) >= count else []

