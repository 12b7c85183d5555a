"""The reporter library and `fleetstream backup-report` produce the same job rows; the CLI views."""

from __future__ import annotations

import asyncio
from typing import Any

from common.settings import Settings
from producers.backup import BackupReporter
from producers.publisher import Publisher
from tests.integration.backup.support import job
from tests.integration.helpers import AppEnv, wait_for

COMPARED = ("job_type", "status", "current_phase", "bytes_transferred", "total_bytes",
            "progress_percent")


async def wait_row(app_env: AppEnv, job_id: str, **expected: Any) -> Any:
    async def probe() -> Any:
        row = await job(app_env, job_id)
        return row is not None and all(row[k] == v for k, v in expected.items()) and row
    return await wait_for(probe, 30, what=f"job {job_id} with {expected}")


async def test_library_and_cli_report_the_same_job_state(app_env: AppEnv) -> None:
    await app_env.start_worker()
    settings = Settings.load(environ=app_env.env, dotenv=None)
    publisher = Publisher("backup-test", settings)
    await publisher.start()
    try:
        async with BackupReporter(publisher, settings.topic("backup"), job_id="lib-1",
                                  job_type="replication", disks={0: 1000, 1: 1000},
                                  interval=0.5) as reporter:
            reporter.phase("transferring")
            loop = asyncio.get_running_loop()
            started = loop.time()
            for done in range(0, 501, 5):  # a copy loop: many cheap updates
                reporter.update(0, done)
                reporter.update(1, done // 2)
                await asyncio.sleep(0.01)  # the sender gets its turns, as in a real copy loop
            elapsed = loop.time() - started
            during = reporter.sent
        # The first report and the phase change at once, then one per interval at most; 101
        # updates unthrottled would be ~100 events.
        assert 2 <= during <= elapsed / 0.5 + 2, (during, elapsed)
        assert reporter.sent <= during + 1, "closing sends the pending numbers once"
        async with BackupReporter(publisher, settings.topic("backup"), job_id="lib-done",
                                  job_type="backup", disks={0: 100}) as finished:
            finished.update(0, 100)
            finished.complete()
        assert await publisher.flush(20)
    finally:
        await publisher.stop()

    cli = app_env.run_cli("backup-report", "--job-id", "cli-1", "--job-type", "replication",
                          "--status", "running", "--phase", "transferring",
                          "--disk", "0:500/1000", "--disk", "1:250/1000")
    assert cli.returncode == 0, cli.stderr

    from_library = await wait_row(app_env, "lib-1", bytes_transferred=750)
    from_cli = await wait_row(app_env, "cli-1", bytes_transferred=750)
    assert {k: from_library[k] for k in COMPARED} == {k: from_cli[k] for k in COMPARED}
    assert float(from_cli["progress_percent"]) == 37.5
    assert from_cli["total_bytes"] == 2000
    done = await wait_row(app_env, "lib-done", status="completed")
    assert float(done["progress_percent"]) == 100
    assert done["completed_at"] is not None

    table = app_env.run_cli("jobs")
    assert table.returncode == 0, table.stderr
    assert "lib-1" in table.stdout and "cli-1" in table.stdout and "37.5%" in table.stdout
    running = app_env.run_cli("jobs", "--status", "completed")
    assert "lib-done" in running.stdout and "cli-1" not in running.stdout
    detail = app_env.run_cli("job", "cli-1")
    assert detail.returncode == 0, detail.stderr
    assert "#0" in detail.stdout and "#1" in detail.stdout
    unknown = app_env.run_cli("job", "no-such-job")
    assert unknown.returncode == 1
    assert "no-such-job" in unknown.stderr


async def test_backup_report_fails_when_kafka_does_not_acknowledge(app_env: AppEnv) -> None:
    cli = app_env.run_cli("backup-report", "--job-id", "j", "--job-type", "backup",
                          "--disk", "0:1", "--timeout", "2",
                          KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert cli.returncode == 1
    assert "did not acknowledge" in cli.stderr
