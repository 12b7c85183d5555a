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


def test_the_command_line_loads_no_worker_module_until_a_command_needs_it() -> None:
    """Regression: `fleetstream worker`'s module imported the worker's start-up probe at the top,
    and every command registers every module: the node agent carried the TSDB client, pyarrow,
    numpy, asyncpg and Faust's tuning (RSS 104 MiB against 20 MiB for node_exporter)."""
    probe = ("import sys; from fleetstream import cli; cli.build_parser(); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'streams', 'faust', 'influxdb_client_3', 'pyarrow', 'numpy', 'asyncpg'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_an_agent_command_loads_only_its_own_module() -> None:
    from fleetstream.cli import command_modules

    assert command_modules(["node-agent", "--interval", "1"]) == ["node_agent"]
    assert command_modules(["vm-agent"]) == ["vm_agent"]
    everything = command_modules([])
    assert {"node_agent", "worker", "jobs", "workers"} <= set(everything)
    assert command_modules(["--help"]) == everything
    assert command_modules(["job", "j-1"]) == everything, "a module registers `job` and `jobs`"
    probe = ("import sys; from fleetstream import cli; cli.build_parser(['node-agent']); "
             "print(sorted(m for m in sys.modules if m.startswith('fleetstream.commands.')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "['fleetstream.commands.node_agent']", result.stdout
