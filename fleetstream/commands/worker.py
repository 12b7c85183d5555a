"""`fleetstream worker`: run one Faust stream worker (agents, tables, timers, web views)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from common import gc_policy, kafka
from common.settings import WORKER as PROCESS
from fleetstream.commands import load_settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run a stream worker")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every `fleetstream` command registers this module, and the
    # agents must not load the worker's sinks (the TSDB client alone brings pyarrow and numpy).
    from streams import startup
    from streams.faust_tuning import use_uvloop

    # Before streams.app is imported: it builds the Faust app, and with it the event loop.
    use_uvloop()
    settings = load_settings(PROCESS)
    log.info("worker.config %s", " ".join(f"{k}={v}" for k, v in settings.masked(PROCESS).items()))
    problems = settings.problems_for(PROCESS)
    if problems:
        print("fleetstream worker: refusing to start:\n" + "\n".join(f"  - {p}" for p in problems),
              file=sys.stderr)
        return 2
    try:
        # Faust would retry a refused login forever; fail once, clearly, before it starts.
        asyncio.run(kafka.check_credentials(settings))
    except kafka.KafkaCredentialsError as exc:
        print(f"fleetstream worker: {exc}", file=sys.stderr)
        return 2
    try:
        # PostgreSQL and the TSDB once: a bad password, token or database stops it here.
        asyncio.run(startup.probe_sinks(settings))
    except startup.StartupRefused as exc:
        for problem in exc.problems:
            print(f"fleetstream worker: refusing to start: {problem}", file=sys.stderr)
        return 2
    from streams.app import app

    # The app, its agents and every module are built: freeze them, and collect rarely.
    gc_policy.tune_for_throughput()
    Path(app.conf.datadir).mkdir(parents=True, exist_ok=True)
    # Faust's own command line reads sys.argv; hand it the worker command with our settings.
    sys.argv = ["fleetstream-worker", "worker", "--loglevel", settings.log_level]
    app.main()
