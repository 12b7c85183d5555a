"""deploy/fleetstream-worker@.service: one worker per core, each on its own port, hardened.

systemd itself checks the unit (`systemd-analyze verify` on an instance), and the port each
instance gets is computed by running the unit's own ExecStart shell line.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
WORKER_UNIT = REPO / "deploy" / "fleetstream-worker@.service"
NODE_AGENT_UNIT = REPO / "deploy" / "fleetstream-node-agent.service"


def directives(unit: Path) -> dict[str, list[str]]:
    """Key -> values (a key may repeat) of a unit file, comments and sections dropped."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def instance_port(instance: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run instance `instance`'s ExecStart line as systemd would, printing the port it sets."""
    exec_start = directives(WORKER_UNIT)["ExecStart"][0]
    # systemd's own substitutions: the instance name for %i, a literal $ for $$.
    line = exec_start.replace("%i", instance).replace("$$", "$")
    argv = shlex.split(line)
    assert argv[:2] == ["/bin/sh", "-c"]
    # The same exec, of a program that shows the environment fleetstream would get.
    script = argv[2].replace("exec fleetstream worker", "exec printenv FLEETSTREAM_WEB_PORT")
    assert script != argv[2], "ExecStart must exec `fleetstream worker`"
    return subprocess.run(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=10, check=False)


def test_each_instance_gets_its_own_port_starting_at_the_default() -> None:
    ports = [instance_port(str(n)).stdout.strip() for n in range(1, 5)]
    assert ports == ["6066", "6067", "6068", "6069"]


def test_an_instance_env_file_can_choose_its_port() -> None:
    assert instance_port("3", FLEETSTREAM_WEB_PORT="7100").stdout.strip() == "7100"
    assert "EnvironmentFile" in directives(WORKER_UNIT)
    assert "-/etc/fleetstream/worker-%i.env" in directives(WORKER_UNIT)["EnvironmentFile"]


def test_a_non_numeric_instance_is_refused_without_restarts() -> None:
    # Regression: sh arithmetic reads a word as an unset variable (0), so `@blue` got port 6065.
    for instance in ("blue", "2a", ""):
        result = instance_port(instance)
        assert result.returncode == 2, instance
        assert "must be a number" in result.stderr
    assert directives(WORKER_UNIT)["RestartPreventExitStatus"] == ["2"]


def test_each_instance_has_its_own_state_directory() -> None:
    unit = directives(WORKER_UNIT)
    assert unit["StateDirectory"] == ["fleetstream-worker/%i"]
    assert unit["Environment"] == ["FLEETSTREAM_DATA_DIR=/var/lib/fleetstream-worker/%i"]


def test_worker_is_hardened_like_the_node_agent() -> None:
    worker, agent = directives(WORKER_UNIT), directives(NODE_AGENT_UNIT)
    same = ("DynamicUser", "NoNewPrivileges", "ProtectSystem", "PrivateTmp", "PrivateDevices",
            "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
            "RestrictNamespaces", "LockPersonality", "MemoryDenyWriteExecute",
            "SystemCallArchitectures", "Restart")
    for key in same:
        assert worker.get(key) == agent.get(key), key
    # The worker reads no host files (the agent reads /proc) and needs no netlink.
    assert worker["ProtectHome"] == ["yes"]
    assert worker["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert worker["CPUQuota"] == ["100%"]


def test_systemd_accepts_an_instance_of_the_template(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian package systemd)"
    shutil.copy(WORKER_UNIT, tmp_path / WORKER_UNIT.name)
    instance = tmp_path / "fleetstream-worker@2.service"
    instance.symlink_to(WORKER_UNIT.name)
    result = subprocess.run([analyze, "verify", "--man=no", str(instance)], capture_output=True,
                            text=True, timeout=60, check=False)
    # verify reports unknown keys and bad values as warnings; none is acceptable.
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if WORKER_UNIT.name in line or "fleetstream-worker@2" in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
