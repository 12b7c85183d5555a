"""`GET /health`: liveness in seed 004's shape, `{"status": "healthy", "time": <unix seconds>}`."""

from __future__ import annotations

import time

from faust.web import Request, Response, View

from streams.app import app


@app.page("/health")
class Health(View):
    """Answers as long as the worker's web server and event loop are alive."""

    async def get(self, request: Request) -> Response:
        return self.json({"status": "healthy", "time": int(time.time())})
