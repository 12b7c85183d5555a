"""A worker SIGKILLed after its table took a batch but before the batch's rows were written.

PostgreSQL is made unavailable, so the worker folds the batch into its table (visible in its
HTTP views) and then sits retrying the row write: the exact window. It is killed there, the
database comes back and a new worker starts with the same app id: the rows must still reach the
state the table already had, for backup jobs and for compute workers alike.
"""

from __future__ import annotations

import urllib.parse

from producers.backup import progress_event
from schemas.backup import JobStatus
from tests.integration.backup.support import job
from tests.integration.backup.test_postgres_outage import BASE_SEQ, admin
from tests.integration.helpers import AppEnv, ahttp, unique, wait_for
from tests.integration.worker.test_heartbeats import heartbeat_body


def report(job_id: str, step: int, done: int, status: JobStatus = "running"
           ) -> tuple[bytes, bytes]:
    event = progress_event(job_id=job_id, job_type="backup", status=status,
                           phase="transferring", seq=BASE_SEQ + step * 1_000_000,
                           total_bytes=1000, disks={0: (done, 1000)}, source="test")
    return job_id.encode(), event.encode()


async def test_rows_catch_up_with_the_table_after_a_kill_between_table_and_row_write(
        app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    job_id, worker_id = unique("crash-job-"), unique("crash-gpu-")
    await app_env.produce(app_env.topic("backup"), [report(job_id, 1, 100)])
    await wait_for(lambda: job(app_env, job_id), 30, what="the job's first row")

    database = urllib.parse.urlsplit(app_env.database_url).path.lstrip("/")
    await admin(app_env, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    try:
        await admin(app_env, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             f"WHERE datname = '{database}'")
        await app_env.produce(app_env.topic("backup"), [report(job_id, 2, 1000, "completed")])
        status, answer = await ahttp("POST", f"{worker.url}/api/heartbeat",
                                     heartbeat_body(worker_id, cpu_usage=77.0))
        assert status == 202, answer

        async def in_table_not_in_rows() -> bool:
            _, seen = await ahttp("GET", f"{worker.url}/jobs/{job_id}")
            beat_status, _ = await ahttp("GET", f"{worker.url}/telemetry/{worker_id}")
            log = worker.log()
            return (seen.get("status") == "completed" and beat_status == 200
                    and "sink.retry sink=backup_jobs" in log and "sink.retry sink=workers" in log)

        await wait_for(in_table_not_in_rows, 60,
                       what="the table updated while the row writes retry")
        worker.kill()
    finally:
        await admin(app_env, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    # The killed member never leaves the group: the new one waits for its session to expire.
    await app_env.start_worker()

    async def rows_caught_up() -> bool:
        row = await job(app_env, job_id)
        workers = await app_env.rows("SELECT cpu_usage FROM workers WHERE worker_id = $1",
                                     worker_id)
        return (row is not None and row["status"] == "completed"
                and row["bytes_transferred"] == 1000
                and [w["cpu_usage"] for w in workers] == [77.0])

    await wait_for(rows_caught_up, 180, 1.0, what="the rows to reach the table's state")
    row = await job(app_env, job_id)
    assert row is not None and row["last_seq"] == BASE_SEQ + 2_000_000
    assert float(row["progress_percent"]) == 100.0
