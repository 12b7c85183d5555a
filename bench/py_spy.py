"""py-spy for the benchmarks: record a worker process, and summarize where its samples went.

Why it exists: the worker is asyncio code, which cProfile distorts (it charges the event loop's
callbacks, not the coroutines waiting); a sampling profiler sees each stack as it is. Both
`bench/backup_pipeline.py --profile` and `bench/restart_state.py --profile` record with it, at
100 Hz, in py-spy's raw format (collapsed stacks, one line a stack with its sample count), which
`summary` reads back: the top functions by self time and by inclusive time, and self time by
package.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


def record(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` into `out` until `stop` (py-spy is installed beside Python)."""
    binary = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(binary), "record", "--pid", str(pid), "--format", "raw",
                             "--rate", "100", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(recorder: subprocess.Popen[bytes]) -> None:
    recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    recorder.wait(60)


def _package(frame: str) -> str:
    # A frame reads "function (path/to/module.py:line)"; the package is the path's first part
    # below site-packages, or the repository's top-level directory.
    path = frame.rpartition("(")[2].partition(":")[0]
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    return parts[0].removesuffix(".py") if parts else "?"


def summary(raw: Path, top: int = 25) -> str:
    """The recording's top `top` functions by self and by inclusive samples, and self samples by
    package, as shares of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return "py-spy: no samples"
    packages: Counter[str] = Counter()
    for frame, samples in own.items():
        packages[_package(frame)] += samples

    def table(title: str, counts: Counter[str]) -> list[str]:
        return [title, *(f"{100 * n / total:6.1f}%  {name}" for name, n in counts.most_common(top))]

    return "\n".join([f"py-spy: {total} samples",
                      *table("-- self, by package", packages),
                      *table("-- self, by function", own),
                      *table("-- inclusive, by function", inclusive)])
