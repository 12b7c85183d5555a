"""`GET /health`: liveness in seed 004's shape, `{"status": ..., "time": <unix seconds>}`.

`status` is `healthy` (exactly seed 004's shape), or `degraded` while a sink of this worker fails
to take writes (its pipeline is retrying: nothing is lost, but projections lag); then `degraded`
lists each such sink with the reason of its last failure, since when it fails and how many
retries it took so far. The answer is 200 either way: the worker is alive and will catch up.
"""

from __future__ import annotations

import time

from faust.web import Request, Response, View

from streams.app import app
from streams.pipeline.health import health


@app.page("/health")
class Health(View):
    """Answers as long as the worker's web server and event loop are alive."""

    async def get(self, request: Request) -> Response:
        degraded = health.degraded()
        if not degraded:
            return self.json({"status": "healthy", "time": int(time.time())})
        return self.json({
            "status": "degraded",
            "time": int(time.time()),
            "degraded": [{"sink": d.sink, "reason": d.reason, "since": int(d.since),
                          "retries": d.retries} for d in degraded],
        })
