"""Sampling this machine's CPU, memory and GPU utilisation without blocking the event loop.

Why it exists: psutil calls are blocking (they read /proc), so they run in an executor; GPU
utilisation comes from `nvidia-smi` run as an async subprocess with a timeout. A machine without
`nvidia-smi`, or one whose `nvidia-smi` fails, hangs or prints nonsense, reports `gpu_usage: null`
and the heartbeat still goes out: a broken GPU tool must never silence a worker.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)

NVIDIA_SMI_ARGS = ("--query-gpu=utilization.gpu", "--format=csv,noheader,nounits")


@dataclass(frozen=True, slots=True)
class Usage:
    """One sample, in percent of the machine; `gpu` is the mean over its GPUs, None without."""

    cpu: float
    memory: float
    gpu: float | None


def parse_gpu_utilisation(output: str) -> float | None:
    """Mean utilisation over the GPUs `nvidia-smi` listed (one integer per line); None if none.

    Raises ValueError for output that is not a list of percentages.
    """
    values = [float(text) for text in (raw.strip() for raw in output.splitlines()) if text]
    if any(not 0 <= value <= 100 for value in values):
        raise ValueError(f"GPU utilisation out of range 0..100: {values}")
    return sum(values) / len(values) if values else None


def _cpu_and_memory() -> tuple[float, float]:
    # interval=None: usage since the previous call, so sampling never sleeps.
    return psutil.cpu_percent(interval=None), psutil.virtual_memory().percent


class ResourceSampler:
    """Samples usage; `nvidia_smi` is the GPU tool, looked up on PATH (None: no GPU sampling)."""

    def __init__(self, nvidia_smi: str | None = "nvidia-smi", gpu_timeout: float = 2.0) -> None:
        self._nvidia_smi = shutil.which(nvidia_smi) if nvidia_smi else None
        self._gpu_timeout = gpu_timeout
        # The first cpu_percent(None) call only sets the baseline and returns 0.0.
        psutil.cpu_percent(interval=None)

    async def sample(self) -> Usage:
        loop = asyncio.get_running_loop()
        (cpu, memory), gpu = await asyncio.gather(
            loop.run_in_executor(None, _cpu_and_memory), self.gpu())
        return Usage(cpu=cpu, memory=memory, gpu=gpu)

    async def gpu(self) -> float | None:
        """Mean GPU utilisation, or None without a (working) `nvidia-smi`."""
        if self._nvidia_smi is None:
            return None
        try:
            proc = await asyncio.create_subprocess_exec(
                self._nvidia_smi, *NVIDIA_SMI_ARGS,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            log.warning("heartbeat.gpu_unavailable command=%s error=%r", self._nvidia_smi, exc)
            return None
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), self._gpu_timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.warning("heartbeat.gpu_timeout command=%s timeout=%gs",
                        self._nvidia_smi, self._gpu_timeout)
            return None
        if proc.returncode != 0:
            log.warning("heartbeat.gpu_failed command=%s status=%s stderr=%r", self._nvidia_smi,
                        proc.returncode, stderr.decode(errors="replace").strip()[:200])
            return None
        try:
            return parse_gpu_utilisation(stdout.decode(errors="replace"))
        except ValueError as exc:
            log.warning("heartbeat.gpu_unparsable command=%s error=%s", self._nvidia_smi, exc)
            return None
