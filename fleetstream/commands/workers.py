"""`fleetstream workers` and `fleetstream status WORKER_ID`: seed 004's CLI over the HTTP API.

`workers` prints one line per known worker (`GET /workers`); `workers forget ID` unregisters
one (`DELETE /workers/{id}`); `status` prints one worker's telemetry with its running tasks
(`GET /telemetry/{id}`). Exit status 1 when the worker's API is
unreachable or the worker is unknown, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from datetime import datetime
from typing import Any

from fleetstream.commands.api import (
    ApiError,
    add_url_option,
    base_url,
    request_json,
    show,
    table,
)


def register(subparsers: Any) -> None:
    workers = subparsers.add_parser("workers", help="list compute workers and their usage")
    add_url_option(workers)
    workers.set_defaults(run=run_workers)
    actions = workers.add_subparsers(dest="action", required=False, metavar="ACTION")
    forget = actions.add_parser("forget", help="unregister a worker (seed 004: leaked workers)")
    forget.add_argument("worker_id", metavar="WORKER_ID")
    add_url_option(forget)
    forget.set_defaults(run=run_forget)
    status = subparsers.add_parser("status", help="show one compute worker's telemetry")
    status.add_argument("worker_id", metavar="WORKER_ID")
    add_url_option(status)
    status.set_defaults(run=run_status)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ago(unix_seconds: float, now: float) -> str:
    seconds = max(0, int(now - unix_seconds))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _state(worker: dict[str, Any]) -> str:
    return "active" if worker["is_active"] else "INACTIVE"


def format_workers(workers: dict[str, dict[str, Any]], now: float) -> str:
    if not workers:
        return "no workers have sent a heartbeat yet"
    rows = [(w["worker_id"], _state(w), _percent(w["cpu_usage"]), _percent(w["memory_usage"]),
             _percent(w["gpu_usage"]), str(w["running_task_count"]),
             _ago(w["last_update"], now))
            for w in sorted(workers.values(), key=lambda w: w["worker_id"])]
    active = sum(1 for w in workers.values() if w["is_active"])
    return (table(("WORKER", "STATUS", "CPU%", "MEM%", "GPU%", "TASKS", "LAST HEARTBEAT"), rows)
            + f"\n\n{len(workers)} workers, {active} active")


def format_status(worker: dict[str, Any], now: float) -> str:
    last = datetime.fromisoformat(worker["last_update_at"]).timestamp()
    lines = [
        f"worker          {worker['worker_id']}",
        f"status          {_state(worker)}"
        + (f" since {worker['inactive_since']}" if worker["inactive_since"] else ""),
        f"cpu             {_percent(worker['cpu_usage'])} %",
        f"memory          {_percent(worker['memory_usage'])} %",
        f"gpu             {_percent(worker['gpu_usage'])} %",
        f"last heartbeat  {worker['last_update_at']} ({_ago(last, now)})",
        f"interval        {worker['interval_seconds']:g} s",
        f"running tasks   {len(worker['running_tasks'])}",
    ]
    if worker["running_tasks"]:
        rows = [(t["task_id"], t.get("name") or "-", t.get("task_type") or "-",
                 t.get("started_at") or "-", _percent(t.get("progress_percent")))
                for t in worker["running_tasks"]]
        lines += ["", table(("TASK", "NAME", "TYPE", "STARTED", "PROGRESS%"), rows)]
    return "\n".join(lines)


def run_workers(args: argparse.Namespace) -> int:
    return show("/workers", lambda workers: format_workers(workers, time.time()), base_url(args))


def run_forget(args: argparse.Namespace) -> int:
    """DELETE /workers/{id}: the worker leaves the live tables and its row goes."""
    try:
        answer = request_json("DELETE", f"/workers/{urllib.parse.quote(args.worker_id, safe='')}",
                              base_url(args))
    except ApiError as exc:
        print(f"fleetstream: {exc}", file=sys.stderr)
        return 1
    print(f"worker {answer['worker_id']} unregistered (event {answer['event_id']})")
    return 0


def run_status(args: argparse.Namespace) -> int:
    return show(f"/telemetry/{urllib.parse.quote(args.worker_id, safe='')}",
                lambda worker: format_status(worker, time.time()), base_url(args))
