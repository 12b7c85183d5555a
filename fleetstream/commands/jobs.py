"""`fleetstream jobs` and `fleetstream job JOB_ID`: backup jobs as the stream workers see them.

Both read the worker HTTP API (`GET /jobs`, `GET /jobs/{job_id}`) through `show`, so they work
against any worker of the cluster (list views gather from every worker, per-job views are routed
to the job's owner).
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from fleetstream.commands.api import add_url_option, base_url, show, table

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _eta(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _status(job: dict[str, Any]) -> str:
    return str(job["stale_level"] if job.get("stale") else job["status"])


def _speed(bps: float | None) -> str:
    return "-" if bps is None else f"{human_bytes(bps)}/s"


def format_table(jobs: list[dict[str, Any]]) -> str:
    header = ("JOB", "TYPE", "STATUS", "PHASE", "PROGRESS", "TRANSFERRED", "TOTAL", "SPEED",
              "ETA", "LAST TELEMETRY")
    return table(header, [(
        job["job_id"], job["job_type"], _status(job), job["current_phase"],
        _percent(job["progress_percent"]), human_bytes(job["bytes_transferred"]),
        human_bytes(job["total_bytes"]),
        _speed(job["transfer_speed_bps"]),
        _eta(job["eta_seconds"]), job["last_telemetry_at"] or "-",
    ) for job in jobs])


def format_job(job: dict[str, Any]) -> str:
    lines = [
        f"job {job['job_id']} ({job['job_type']})",
        f"  status       {_status(job)}"
        + (f" since {job['stale_since']}" if job.get("stale") else ""),
        f"  phase        {job['current_phase']}",
        f"  progress     {_percent(job['progress_percent'])} "
        f"({human_bytes(job['bytes_transferred'])} of {human_bytes(job['total_bytes'])})",
        f"  speed        {_speed(job['transfer_speed_bps'])}",
        f"  eta          {_eta(job['eta_seconds'])}",
        f"  started      {job['started_at'] or '-'}",
        f"  last report  {job['last_telemetry_at'] or '-'}",
        f"  ended        {job['completed_at'] or '-'}",
    ]
    if job.get("error"):
        lines.append(f"  error        {job['error']}")
    lines.append("  disks:")
    for disk in job["disks"]:
        lines.append(
            f"    #{disk['disk_index']:<3} {disk['status']:<14} "
            f"{_percent(disk['progress_percent']):>7}  {human_bytes(disk['bytes_transferred'])}"
            f" of {human_bytes(disk['total_bytes'])}")
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    jobs = subparsers.add_parser("jobs", help="list backup jobs")
    jobs.add_argument("--status", help="only jobs with this status, e.g. running")
    add_url_option(jobs)
    jobs.set_defaults(run=run_jobs)
    job = subparsers.add_parser("job", help="show one backup job with its disks")
    job.add_argument("job_id", metavar="JOB_ID")
    add_url_option(job)
    job.set_defaults(run=run_job)


def run_jobs(args: argparse.Namespace) -> int:
    query = f"?{urllib.parse.urlencode({'status': args.status})}" if args.status else ""
    return show(f"/jobs{query}", lambda answer: format_table(answer["jobs"]) if answer["jobs"]
                else "no backup jobs", base_url(args))


def run_job(args: argparse.Namespace) -> int:
    return show(f"/jobs/{urllib.parse.quote(args.job_id, safe='')}", format_job, base_url(args))
