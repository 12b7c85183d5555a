"""The `fleetstream` command line: subcommands are discovered, config is shown masked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTREAM_")}
    return subprocess.run([FLEETSTREAM, *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("stack", "worker", "config"):
        assert command in result.stdout


def test_config_shows_settings_with_secrets_masked(tmp_path: Path) -> None:
    result = run("config", INFLUX_TOKEN="apiv3_topsecret", FLEETSTREAM_INGEST_TOKEN="tok-123",
                 DATABASE_URL="postgresql://u:pass99@h/db")
    assert result.returncode == 0, result.stderr
    assert "INFLUX_TOKEN=***" in result.stdout
    assert "DATABASE_URL=postgresql://u:***@h/db" in result.stdout
    for secret in ("apiv3_topsecret", "tok-123", "pass99"):
        assert secret not in result.stdout + result.stderr


def test_invalid_settings_exit_2_naming_each(tmp_path: Path) -> None:
    result = run("config", FLEETSTREAM_WEB_PORT="0", FLEETSTREAM_PARTITIONS="many")
    assert result.returncode == 2
    assert "FLEETSTREAM_WEB_PORT" in result.stderr
    assert "FLEETSTREAM_PARTITIONS" in result.stderr
