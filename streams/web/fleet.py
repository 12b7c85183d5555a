"""`WS /ws/fleet`: live worker heartbeats, backup job changes and alerts, for the dashboard.

Why it exists: the dashboard must show a worker's heartbeat, a job's progress and a stale/stalled
or inactive badge the moment they happen, without polling. Every worker reads the heartbeat
topic, the backup job table's changelog and the alerts topic group-less from their end
(`streams.web.live`) and pushes compact JSON:
- `{"type": "heartbeat", worker_id, cpu_usage, memory_usage, gpu_usage, running_task_count, ts,
  fresh}` per valid heartbeat (`fresh`: recent enough to make the worker active, judged with the
  same threshold as the worker agent, so a late old beat does not light a dead worker up);
- `{"type": "job", job_id}` when a job changed: only a notification (the page fetches the owner's
  `GET /jobs/{job_id}`, which has the aggregated progress), throttled per job to one per
  `JOB_THROTTLE_SECONDS`, with a trailing one so the last change is never lost. It comes from the
  table's changelog, not the raw backup topic: a changelog record is written once the owner's
  table holds the change, so the fetch never races the agent (and sweeps that mark a job stale
  notify too);
- `{"type": "alert", ...the Alert fields}` per alert.
Invalid records are skipped: the stream agents dead-letter them.

What it must not do: compute job progress or worker activity state (the agents own them).
"""

from __future__ import annotations

import time
from typing import Any

from faust.web import Request, View

from schemas.alert import Alert
from schemas.codec import dumps
from schemas.errors import InvalidEvent
from schemas.event import decode, epoch_micros, now_utc, parse_json_object
from schemas.worker import WorkerHeartbeat
from streams import topics
from streams.app import app, settings
from streams.domain.worker import inactive_at
from streams.tables import jobs
from streams.web.live import LiveHub, keep_fed

# A job reporting many times a second would make every page re-fetch it as often.
JOB_THROTTLE_SECONDS = 0.5


class Throttle:
    """At most one notification per key per `interval`, and never a lost last one.

    A key offered too soon is remembered as pending and handed out by `due` once its interval
    has passed. Keys quiet for a whole interval are forgotten, so memory is bounded by the keys
    active within the last interval. Time is passed in (monotonic seconds): no clock inside.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: dict[str, float] = {}
        self.pending: set[str] = set()

    def offer(self, key: str, now: float) -> bool:
        """True when `key` may be notified now; otherwise it is pending."""
        last = self.last.get(key)
        if last is None or now - last >= self.interval:
            self.last[key] = now
            self.pending.discard(key)
            return True
        self.pending.add(key)
        return False

    def due(self, now: float) -> list[str]:
        """The pending keys whose interval has passed (now notified), sorted."""
        ready = sorted(key for key in self.pending if now - self.last[key] >= self.interval)
        for key in ready:
            self.pending.discard(key)
            self.last[key] = now
        self.last = {key: at for key, at in self.last.items()
                     if key in self.pending or now - at < self.interval}
        return ready


def heartbeat_message(beat: WorkerHeartbeat, now_us: int, inactive_after_s: float
                      ) -> dict[str, Any]:
    """The live message of one heartbeat, as of `now_us` (wall clock, epoch microseconds)."""
    ts_us = epoch_micros(beat.ts)
    return {"type": "heartbeat", "worker_id": beat.worker_id, "cpu_usage": beat.cpu_usage,
            "memory_usage": beat.memory_usage, "gpu_usage": beat.gpu_usage,
            "running_task_count": len(beat.running_tasks),
            "ts": beat.ts.isoformat().replace("+00:00", "Z"),
            "fresh": now_us < inactive_at(ts_us, inactive_after_s)}


def job_message(job_id: str) -> dict[str, Any]:
    return {"type": "job", "job_id": job_id}


def alert_message(alert: Alert) -> dict[str, Any]:
    return {"type": "alert", **alert.model_dump(mode="json")}


def _text(message: dict[str, Any]) -> str:
    return dumps(message).decode()


def heartbeat_record(raw: bytes) -> str | None:
    try:
        beat = decode(WorkerHeartbeat, raw)
    except InvalidEvent:
        return None
    return _text(heartbeat_message(beat, epoch_micros(now_utc()),
                                   settings.worker_inactive_seconds))


def alert_record(raw: bytes) -> str | None:
    try:
        return _text(alert_message(decode(Alert, raw)))
    except InvalidEvent:
        return None


class JobNotices:
    """Job table changelog records -> throttled `job` notifications; `due` hands out the
    trailing ones."""

    def __init__(self, interval: float = JOB_THROTTLE_SECONDS) -> None:
        self.throttle = Throttle(interval)

    def __call__(self, raw: bytes) -> str | None:
        try:
            job_id = parse_json_object(raw).get("job_id")
        except InvalidEvent:
            return None
        if not isinstance(job_id, str):
            return None
        return _text(job_message(job_id)) if self.throttle.offer(job_id, time.monotonic()) \
            else None

    def due(self) -> list[str]:
        return [_text(job_message(job_id)) for job_id in self.throttle.due(time.monotonic())]


hub = LiveHub("fleet")
job_notices = JobNotices()


@app.page("/ws/fleet")
class FleetStream(View):
    """`WS /ws/fleet`: heartbeats, job change notifications and alerts of the whole fleet."""

    async def get(self, request: Request) -> Any:
        return await hub.websocket(request)


@app.task
async def fleet_feed() -> None:
    """Keep the fleet stream fed for as long as the worker runs."""
    await keep_fed(hub, (topics.heartbeat.get_topic_name(), heartbeat_record),
                   (jobs.table.changelog_topic.get_topic_name(), job_notices),
                   (topics.alerts.get_topic_name(), alert_record))


@app.timer(interval=JOB_THROTTLE_SECONDS / 4)
async def flush_job_notices() -> None:
    """Send the job notifications held back by the throttle once their interval has passed."""
    for message in job_notices.due():
        hub.broadcast(message)
