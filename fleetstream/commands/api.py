"""The HTTP client of the query commands (`workers`, `status`, `jobs`, `job`); `fleetstream api`.

Why it exists: the query commands read a stream worker's HTTP API and must find it and fail the
same clear way when it is not there. Where: `--url`, else FLEETSTREAM_WEB_URL (`.stack/env`
exports it), else FLEETSTREAM_WEB_HOST:FLEETSTREAM_WEB_PORT (the settings the worker serves on);
`add_url_option` and `base_url` are that rule. `get_json(path)` is the one way to ask,
`show(path, render, url)` prints an answer or the failure, and `table` lays rows out in columns;
`fleetstream api PATH` prints any GET endpoint's JSON, for the views no command formats.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from common.settings import CLI, http_url
from fleetstream.commands import load_settings

TIMEOUT = 10.0


class ApiError(RuntimeError):
    """The worker's API could not answer; the message says what to check."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _error_message(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:500]
    if isinstance(parsed, dict) and "error" in parsed:
        return str(parsed["error"])
    return json.dumps(parsed)[:500]


def url_option(raw: str) -> str:
    """argparse type of `--url`: the same check as FLEETSTREAM_WEB_URL."""
    try:
        url = http_url(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not url:
        raise argparse.ArgumentTypeError("must not be empty")
    return url


def add_url_option(parser: argparse.ArgumentParser) -> None:
    """The `--url` option every query command has."""
    parser.add_argument("--url", type=url_option, metavar="URL",
                        help="the worker's base URL (default: FLEETSTREAM_WEB_URL, else "
                             "http://FLEETSTREAM_WEB_HOST:FLEETSTREAM_WEB_PORT)")


def base_url(args: argparse.Namespace) -> str:
    """The worker to ask: `--url` > FLEETSTREAM_WEB_URL > the web_host/web_port settings."""
    url: str | None = getattr(args, "url", None)
    return url or load_settings(CLI).query_url


def get_json(path: str, base_url: str | None = None) -> Any:
    """GET `path` of the worker's API and return the parsed JSON (see `request_json`)."""
    return request_json("GET", path, base_url)


def request_json(method: str, path: str, base_url: str | None = None) -> Any:
    """`method` `path` of the worker's API and return the parsed JSON.

    Sends FLEETSTREAM_INGEST_TOKEN as the bearer token when one is set (the changing endpoints
    need it). Raises `ApiError` when the worker is unreachable, answers with an error status (its
    message included, `status` set) or does not answer JSON.
    """
    settings = load_settings(CLI)
    base = (base_url or settings.query_url).rstrip("/")
    url = f"{base}/{path.lstrip('/')}"
    headers = {"Authorization": f"Bearer {settings.ingest_token}"} if settings.ingest_token else {}
    try:
        request = urllib.request.Request(url, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise ApiError(f"{url} answered {exc.code}: {_error_message(exc.read())}",
                       status=exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(
            f"cannot reach the fleetstream worker at {base} ({reason}); is `fleetstream worker` "
            "running there? (set --url or FLEETSTREAM_WEB_URL)") from None
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(f"{url} did not answer JSON: {body[:200]!r}") from None


def show(path: str, render: Callable[[Any], str], url: str | None = None) -> int:
    """Print `render` of GET `path` of the worker at `url` (exit status 0), or why the API could
    not answer (1)."""
    try:
        answer = get_json(path, url)
    except ApiError as exc:
        print(f"fleetstream: {exc}", file=sys.stderr)
        return 1
    print(render(answer))
    return 0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart, headers first."""
    lines = [[str(cell) for cell in line] for line in [headers, *rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)
                               ).rstrip()
                     for line in lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("api", help="GET a path of the worker's HTTP API as JSON")
    parser.add_argument("path", help="e.g. /workers, /telemetry/worker-1, /jobs")
    add_url_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return show(args.path, lambda answer: json.dumps(answer, indent=2, sort_keys=True),
                base_url(args))
