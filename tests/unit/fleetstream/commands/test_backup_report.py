"""`backup-report` takes the job id from MIGRATEKIT_JOB_ID (seed 003) and refuses a bad one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleetstream.commands.backup_report import JOB_ID_ENV, resolve_job_id

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")


def test_the_option_wins_over_the_environment() -> None:
    assert resolve_job_id("from-option", {JOB_ID_ENV: "from-env"}) == "from-option"
    assert resolve_job_id(None, {JOB_ID_ENV: "job-42"}) == "job-42"


@pytest.mark.parametrize(("value", "reason"), [
    ("", "is empty"),
    ("   ", "is empty"),
    ("job\x1b[2J", "control characters"),
    ("job-1\n", "control characters"),
    ("j" * 257, "more than 256"),
])
def test_a_malformed_environment_value_is_named(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        resolve_job_id(None, {JOB_ID_ENV: value})
    assert JOB_ID_ENV in str(caught.value) and "\x1b" not in str(caught.value)


def test_no_job_id_anywhere_says_how_to_give_one() -> None:
    with pytest.raises(ValueError, match="--job-id"):
        resolve_job_id(None, {})


@pytest.mark.parametrize("value", ["", "evil\x1b]0;pwned\x07", "x" * 1000])
def test_the_command_exits_2_with_one_line(value: str, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("FLEETSTREAM_") and k != JOB_ID_ENV}
    result = subprocess.run(
        [FLEETSTREAM, "backup-report", "--job-type", "backup", "--disk", "0:1/2"],
        env={**clean, JOB_ID_ENV: value, "FLEETSTREAM_DATA_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"fleetstream backup-report: {JOB_ID_ENV} ")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert not (tmp_path / "outbox").exists()
