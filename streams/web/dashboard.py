"""`GET /`: the live dashboard page, and `GET /static/{name}`: its hand-written assets.

Why it exists: one page shows the whole fleet as it changes: open alerts, compute workers
(active/inactive), backup jobs (progress, speed, ETA, stale/stalled), nodes with small live charts
and VMs with their CPU, NIC and disk rates. The page is static HTML/CSS/JS from
`streams/web/static/` (no CDN, no build step); it loads `GET /workers`, `GET /jobs`, `GET /nodes`
and `GET /alerts?status=open` once, then follows `WS /ws/fleet` (heartbeats, job changes, alerts)
and `WS /ws/telemetry` (node snapshots), so it never reloads; `/?refresh=<seconds>` sets its slow
safety refresh (default 15 s). VMs have no live feed: `GET /vms` is polled (`?vms=`, default 5 s).
A job's or node's detail (`#job=<id>`, `#node=<id>`) polls its view (`?poll=`, default 2 s): a
job's disks and its speed/ETA history (kept by the page while open), and the event-time windows
of `GET /jobs/{id}/rollups` or `GET /nodes/{id}/rollups` ("no rollups yet" while they 404).
What it must not do: compute anything, or serve a file outside `static/` (names are looked up in
a fixed list made at start, never joined into a path).
"""

from __future__ import annotations

from importlib import resources

from faust.web import Request, Response, View
from faust.web.exceptions import NotFound

from streams.app import app

_CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
                  ".svg": "image/svg+xml"}


def _load_assets() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("streams.web").joinpath("static")
    assets = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _CONTENT_TYPES:
            assets[item.name] = (item.read_bytes(), _CONTENT_TYPES[suffix])
    return assets


ASSETS = _load_assets()


@app.page("/")
class Dashboard(View):
    """The dashboard page."""

    async def get(self, request: Request) -> Response:
        body, content_type = ASSETS["index.html"]
        return self.bytes(body, content_type=content_type,
                          headers={"Cache-Control": "no-cache"})


@app.page("/static/{name}")
class Static(View):
    """The dashboard's stylesheet and script."""

    async def get(self, request: Request, name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no static file {name!r}")
        body, content_type = ASSETS[name]
        return self.bytes(body, content_type=content_type,
                          headers={"Cache-Control": "no-cache"})
