"""What the backup integration tests share: reading a job's projection row."""

from __future__ import annotations

import asyncpg

from tests.integration.helpers import AppEnv


async def job(app_env: AppEnv, job_id: str) -> asyncpg.Record | None:
    found = await app_env.rows("SELECT * FROM backup_jobs WHERE job_id = $1", job_id)
    return found[0] if found else None
