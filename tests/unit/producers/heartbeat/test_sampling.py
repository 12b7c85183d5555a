"""GPU sampling never silences a heartbeat: no, failing, hanging or garbled nvidia-smi -> null."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from producers.heartbeat.sampling import ResourceSampler, parse_gpu_utilisation


def fake_nvidia_smi(tmp_path: Path, script: str) -> str:
    path = tmp_path / "nvidia-smi"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_parse_means_over_gpus() -> None:
    assert parse_gpu_utilisation("30\n50\n") == 40.0
    assert parse_gpu_utilisation("\n") is None
    with pytest.raises(ValueError):
        parse_gpu_utilisation("[N/A]\n")
    with pytest.raises(ValueError):
        parse_gpu_utilisation("250\n")


async def test_cpu_and_memory_are_percentages_and_no_gpu_is_null() -> None:
    sampler = ResourceSampler(nvidia_smi=None)
    usage = await sampler.sample()
    assert 0 <= usage.cpu <= 100 and 0 < usage.memory <= 100 and usage.gpu is None


async def test_gpu_utilisation_from_nvidia_smi(tmp_path: Path) -> None:
    sampler = ResourceSampler(nvidia_smi=fake_nvidia_smi(tmp_path, 'echo 12; echo 88'))
    assert (await sampler.sample()).gpu == 50.0


@pytest.mark.parametrize("script", [
    "echo 'NVIDIA-SMI has failed' >&2; exit 9",   # driver not loaded
    "echo '[N/A]'",                                # unsupported GPU
])
async def test_a_failing_nvidia_smi_gives_null(tmp_path: Path, script: str) -> None:
    sampler = ResourceSampler(nvidia_smi=fake_nvidia_smi(tmp_path, script))
    assert await sampler.gpu() is None


async def test_a_hanging_nvidia_smi_is_killed_after_the_timeout(tmp_path: Path) -> None:
    sampler = ResourceSampler(nvidia_smi=fake_nvidia_smi(tmp_path, "exec sleep 30"),
                              gpu_timeout=0.3)
    assert await sampler.gpu() is None


async def test_an_nvidia_smi_removed_after_start_gives_null(tmp_path: Path) -> None:
    tool = Path(fake_nvidia_smi(tmp_path, "echo 10"))
    sampler = ResourceSampler(nvidia_smi=str(tool))
    await asyncio.to_thread(tool.unlink)
    assert await sampler.gpu() is None


def test_no_nvidia_smi_on_path_means_no_gpu_sampling() -> None:
    assert ResourceSampler(nvidia_smi="no-such-gpu-tool")._nvidia_smi is None
