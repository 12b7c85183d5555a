"""fleetstream's worker against a peer (Quix Streams 3.x) doing the same backup job, in one run.

Why it exists: the raw aiokafka ceiling says what Kafka and decoding allow, the tuned Faust floor
what Faust's dispatch allows; the peer says what another Python stream processor achieves on the
same job (`bench/peer_quix.py`: decode + validate, per-job sum of the latest bytes per disk,
final rows upserted into PostgreSQL), and the floor again with the changelog writes the worker's
job needs (`--changelogs 2`: a job's state and its rollup pane per key and batch). All read the
same pre-produced topic
(`bench/backup_pipeline.py`'s generator), round after round; prints each round, then min/median
events/s and the ratios of the medians. The worker and the peer are timed the same way: from
their first row in PostgreSQL until every job's final (`completed`) row is there.

    python bench/peer.py --peer-python .venv-peer/bin/python [--jobs 1000] [--disks 4]
        [--updates 25] [--rounds 3]

`make bench-peer` builds `.venv-peer` and runs this.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from backup_pipeline import (
    REPO,
    ceiling,
    count_jobs,
    faust_floor,
    fresh_database,
    make_events,
    produce,
    run_worker,
    worker_env,
)

from common.settings import read_dotenv

PEER_TABLE = "peer_backup_jobs"


async def run_peer(args: argparse.Namespace, topic: str, bootstrap: str, db_url: str,
                   tmp: Path) -> float:
    """Events/s of the Quix job, first row -> every job final."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    with (tmp / "peer.log").open("wb") as log:
        peer = await asyncio.create_subprocess_exec(
            args.peer_python, str(REPO / "bench" / "peer_quix.py"), topic, db_url,
            f"peer-{uuid.uuid4().hex[:8]}", str(tmp / "quix-state"), env=env, cwd=tmp,
            stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        first_row = None
        while await count_jobs(db_url, "status = 'completed'", PEER_TABLE) < args.jobs:
            if peer.returncode is not None:
                raise SystemExit(f"peer exited with {peer.returncode}; see {tmp}/peer.log")
            if first_row is None and await count_jobs(db_url, table=PEER_TABLE):
                first_row = time.perf_counter()
            await asyncio.sleep(0.2)
        finished = time.perf_counter()
    finally:
        peer.send_signal(signal.SIGTERM)
        await asyncio.wait_for(peer.wait(), 60)
    if first_row is None:
        raise SystemExit("the peer wrote every row at once: too few events to time it")
    return args.total / (finished - first_row)


async def run(args: argparse.Namespace) -> None:
    stack = read_dotenv(REPO / ".stack" / "env")
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench{run_id}."
    topic = f"{prefix}backup"
    args.total = args.jobs * args.disks * args.updates
    args.profile = False
    await produce(bootstrap, topic, args.partitions,
                  make_events(args.jobs, args.disks, args.updates))
    print(f"produced {args.total} events to {topic}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    names = ("raw ceiling", "faust floor (tuned)", "floor + 2 changelogs", "fleetstream worker",
             "quix streams peer")
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(1, args.rounds + 1):
        tmp = Path(tempfile.mkdtemp(prefix="bench-peer-"))
        db_url = await fresh_database(stack["DATABASE_URL"], f"bench_{run_id}_{round_no}")
        raw = await ceiling(bootstrap, topic, args.total)
        results["raw ceiling"].append(raw.events_per_second)
        floor = await faust_floor(bootstrap, topic, args.total, args.partitions)
        results["faust floor (tuned)"].append(floor.events_per_second)
        # The Kafka writes the worker's job needs (state and rollup pane per key and batch).
        writes = await faust_floor(bootstrap, topic, args.total, args.partitions,
                                   "--changelogs", "2")
        results["floor + 2 changelogs"].append(writes.events_per_second)
        env = worker_env(stack, prefix, f"{run_id}-{round_no}", db_url, tmp / "worker",
                         args.partitions, args.web_port)
        (tmp / "worker").mkdir()
        first_row, finished, *_ = await run_worker(args, env, tmp, tmp / "worker.prof", db_url)
        results["fleetstream worker"].append(args.total / (finished - first_row))
        results["quix streams peer"].append(await run_peer(args, topic, bootstrap, db_url, tmp))
        print(f"round {round_no}: " + ", ".join(f"{name} {figures[-1]:.0f}/s"
                                                for name, figures in results.items())
              + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    medians = {name: statistics.median(figures) for name, figures in results.items()}
    print(f"{'events/s':22} {'min':>8} {'median':>8} {'/ceiling':>9}")
    for name, figures in results.items():
        print(f"{name:22} {min(figures):8.0f} {medians[name]:8.0f} "
              f"{medians[name] / medians['raw ceiling']:9.3f}")
    print(f"ratio worker / peer (medians): "
          f"{medians['fleetstream worker'] / medians['quix streams peer']:.2f}; "
          f"worker / tuned floor: "
          f"{medians['fleetstream worker'] / medians['faust floor (tuned)']:.2f}; "
          f"floor + changelogs / floor: "
          f"{medians['floor + 2 changelogs'] / medians['faust floor (tuned)']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", required=True,
                        help="python of the virtualenv with Quix Streams (.venv-peer/bin/python)")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--disks", type=int, default=4)
    parser.add_argument("--updates", type=int, default=25)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--web-port", type=int, default=6198)
    args = parser.parse_args()
    # Absolute (the peer runs in its own directory) but not resolved: the venv's python is a
    # symlink that must stay one.
    args.peer_python = os.path.abspath(args.peer_python)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
