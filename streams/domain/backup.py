"""Backup-job state: folding progress reports into per-disk and per-job state, and staleness.

Why it exists: this is the domain math of seed 003, kept pure (no I/O, no clock, no Faust) so it
is tested on its own with property-based tests; `streams.agents.backup` is thin glue around it.

The state of a job is a JSON-compatible dict (it lives in a changelog-backed table). It is a
function of the SET of reports received, not of their order, so duplicates, redeliveries and
out-of-order reports never double count or regress. Reports are ordered by their `rank`:
`seq`, then, among reports of one `seq`, by progress: status (pending < running < ended), then
bytes (the sum of the report's disks, else its own `bytes_transferred`), then `event_id` as the
last tiebreak. Why: seed 003's timestamps have one-second resolution and its `seq` is that
timestamp, so two reports of one second share a `seq`; before, the one that arrived second was
dropped, and 1 GB then 2 GB ended at 1 GB while the other order ended at 2 GB. Within a second
the report that got further is taken as the newer one; two that got equally far (say, the same
bytes and a new phase) are told apart by `event_id`, which for seed bodies is a hash of their
content: the result is one of them, the same in every arrival order. An exact re-send has the
same content, so the same `event_id` and rank, and changes nothing. A disk copy restarted within
one second (its bytes going down) is not seen: the report with more bytes ranks higher.
- every disk keeps the values of the highest-ranked report that mentioned it (last writer wins
  by rank); a disk missing from a report keeps its values;
- job-level fields (status, phase, total, job type, the client's speed and ETA) come from the
  highest-ranked report;
- job bytes are the SUM of its disks (the seed's bug was a job total stuck at 0); only a job
  that never reported any disk falls back to its own `bytes_transferred`;
- percent = bytes / total, clamped to [0, 100] (100 once completed);
- speed (running jobs) is an EWMA of Δbytes/Δt on EVENT time over the `SAMPLE_WINDOW` reports
  with the highest `seq` (one sample per `seq`, from its highest-ranked report; a window chosen
  by `seq` is order-independent); ETA = remaining / speed. Until there is such a speed (a
  job's first report, or reports all within one second), the job shows the speed and ETA its
  highest-ranked report claims (`transfer_speed_bps`, `eta_seconds`; an ETA it did not send
  is computed from its speed).

Restarted disk copy: a disk whose bytes go DOWN in a report with a higher `seq` is taken as-is.
The reporter restarted that disk's copy, so its earlier bytes are no longer on the target; job
bytes and percent drop accordingly, and that interval is left out of the speed.

Ending: the first terminal report (`completed`, `failed`, `cancelled`: the lowest terminal
`seq`; within that `seq` the highest-ranked) ends the job and freezes it. Reports with a higher
`seq` are ignored, also when they arrived before it (the terminal report then overrides the
disks it lists; a disk it does not list keeps what it had). An ended job's speed is its average
over the whole job, its ETA 0 when completed and none otherwise; `completed_us` is when it
ended, whatever the outcome.

Staleness is the one part that depends on the wall clock: `sweep` compares `now` with the event
time of the latest report; the runtime does not sweep partitions the worker is still catching up
on, so a backlog of old reports does not raise and clear alerts job after job, and judges a
partition with records waiting at the newest event processed there: a job's next report may be
among them (`streams.pipeline.agent.partition_clock`).
Levels: 0 fresh, 1 stale, 2 stalled. Every transition up raises one
alert whose time is the deterministic `last_telemetry + threshold` (so a worker re-raising it
after a crash produces the same `alert_id`); fresh telemetry clears every raised level, one
clearing alert each, naming the id of the alert it clears (kept in the state's `open_alerts`).
Only a report with a newer `seq` is fresh telemetry: one more report of the latest second,
delivered late, updates the figures but does not end a stale spell.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alert import Alert
from schemas.backup import ENDED_STATUSES, Report
from schemas.event import MAX_SECONDS, epoch_micros

State = dict[str, Any]

SAMPLE_WINDOW = 8
SPEED_SMOOTHING = 0.3
FRESH, STALE, STALLED = 0, 1, 2
STALENESS = ("fresh", "stale", "stalled")
"""The name of each level, as views, the CLI and the `backup_jobs.staleness` column show it."""
ALERT_KINDS = {STALE: "backup.stale", STALLED: "backup.stalled"}
_STATUS_RANK = {"pending": 0, "running": 1, **dict.fromkeys(ENDED_STATUSES, 2)}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_micros(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _percent(done: int, total: int | None) -> float | None:
    if not total:
        return None
    return min(100.0, max(0.0, done * 100.0 / total))


def _new_job(event: Report, ts: int) -> State:
    return {
        "job_id": event.job_id, "job_type": event.job_type, "status": event.status,
        "current_phase": event.current_phase, "version": event.seq, "last_seq": -1,
        "last_rank": [-1], "ended_seq": None, "ended_rank": None, "reported_bytes": 0,
        "reported_total": 0, "reported_speed": None, "reported_eta": None, "error": None,
        "started_us": ts, "last_telemetry_us": ts, "completed_us": None,
        "disks": {}, "samples": [], "stale_level": FRESH, "stale_since_us": None,
    }


def event_bytes(event: Report) -> int:
    """The job's transferred bytes as the report carries them (its disks' sum, else its own)."""
    if event.disks:
        return sum(disk.bytes_transferred for disk in event.disks)
    return event.bytes_transferred


def measures(events: Iterable[Report]) -> list[tuple[int, int]]:
    """Each report's event time (epoch µs) and job bytes (`event_bytes`), worked out once for
    the fold (its ranks and speed samples) and the window rollups."""
    return [(epoch_micros(event.ts), event_bytes(event)) for event in events]


def rank(event: Report, transferred: int) -> list[Any]:
    """Where a report stands among its job's reports (see the module): seq, then progress.

    [seq, status rank, bytes, event id]: `transferred`, the report's `event_bytes`, is also its
    speed sample. A struct's `event_id` is already that text (`schemas.fast.CanonicalUuid`)."""
    return [event.seq, _STATUS_RANK[event.status], transferred, str(event.event_id)]


def _rank_of(entry: State) -> list[Any]:
    # States stored before ranks existed carry only `seq`: they rank below any report of it.
    rank_: list[Any] = entry.get("rank") or [entry["seq"]]
    return rank_


def _ended_rank(job: State) -> list[Any] | None:
    ended: list[Any] | None = job.get("ended_rank")
    if ended is None and job["ended_seq"] is not None:
        ended = [job["ended_seq"]]
    return ended


def _ends_earlier(order: list[Any], ended: list[Any] | None) -> bool:
    """True when a terminal report ranked `order` ends the job before the end `ended`."""
    if ended is None or order[0] < ended[0]:
        return True
    # Within one seq (one second of seed 003) the report that got furthest is the later one.
    return bool(order[0] == ended[0] and order > ended)


def _apply(job: State | None, event: Report, ts: int, transferred: int) -> State:
    if job is None:
        job = _new_job(event, ts)
    # `version` is the highest seq ever seen: the projections' monotonic guard.
    job["version"] = max(job["version"], event.seq)
    order = rank(event, transferred)
    ended = _ended_rank(job)
    if ended is not None and event.seq > ended[0]:
        return job
    ends_now = event.status in ENDED_STATUSES and _ends_earlier(order, ended)
    if ends_now:
        job["ended_seq"], job["ended_rank"] = event.seq, order
        job["samples"] = []
    if ends_now or order > (job.get("last_rank") or [job["last_seq"]]):
        fresher = event.seq > job["last_seq"]
        job.update(
            job_type=event.job_type, status=event.status, current_phase=event.current_phase,
            last_seq=event.seq, last_rank=order, last_telemetry_us=ts,
            reported_bytes=event.bytes_transferred, reported_total=event.total_bytes,
            reported_speed=event.transfer_speed_bps, reported_eta=event.eta_seconds,
            error=event.error, completed_us=ts if job["ended_seq"] is not None else None)
        if job["stale_level"] != FRESH and (fresher or ends_now):
            job["stale_level"], job["stale_since_us"], job["open_alerts"] = FRESH, None, {}
    job["started_us"] = min(job["started_us"], ts)
    disks: dict[str, Any] = job["disks"]
    for disk in event.disks:
        key = str(disk.disk_index)
        current = disks.get(key)
        newer = current is None or order > _rank_of(current)
        if newer or (ends_now and current is not None and _rank_of(current) > order):
            disks[key] = {
                "seq": event.seq, "rank": order, "bytes_transferred": disk.bytes_transferred,
                "total_bytes": disk.total_bytes, "reported_percent": disk.progress_percent,
                "status": disk.status,
            }
    if job["ended_seq"] is None:
        _add_sample(job, order, ts, order[2])
    return job


def _add_sample(job: State, order: list[Any], ts: int, transferred: int) -> None:
    """One sample [seq, event time µs, bytes, rank] per seq: that of its highest-ranked report."""
    samples: list[list[Any]] = job["samples"]
    seq = order[0]
    if not samples or samples[-1][0] < seq:
        # The usual case, a later second than any sampled: the samples stay in seq order.
        samples.append([seq, ts, transferred, order])
        if len(samples) > SAMPLE_WINDOW:
            del samples[0]
        return
    same = next((sample for sample in samples if sample[0] == seq), None)
    if same is not None:
        if len(same) > 3 and same[3] >= order:
            return
        samples.remove(same)
    samples.append([seq, ts, transferred, order])
    samples.sort(key=lambda sample: sample[0])
    del samples[:-SAMPLE_WINDOW]


def smoothed_speed(samples: list[list[Any]]) -> float | None:
    """EWMA of Δbytes/Δt (bytes per second) over samples [seq, event time µs, bytes, ...] by seq.

    Intervals without time passing or with bytes going down (a restarted disk) are left out.
    """
    speed: float | None = None
    for (_, t0, b0, *_), (_, t1, b1, *_) in itertools.pairwise(samples):
        if t1 <= t0 or b1 < b0:
            continue
        rate = (b1 - b0) * 1_000_000 / (t1 - t0)
        speed = rate if speed is None else SPEED_SMOOTHING * rate + (1 - SPEED_SMOOTHING) * speed
    return speed


def _derive(job: State) -> None:
    disks = job["disks"].values()
    transferred = sum(d["bytes_transferred"] for d in disks) if disks else job["reported_bytes"]
    total = job["reported_total"]
    if not total and disks and all(d["total_bytes"] for d in disks):
        total = sum(d["total_bytes"] for d in disks)
    status = job["status"]
    ongoing = job["ended_seq"] is None
    own_speed = None
    if ongoing:
        own_speed = speed = smoothed_speed(job["samples"])
        if speed is None:
            speed = job.get("reported_speed")
    else:
        elapsed = (job["last_telemetry_us"] - job["started_us"]) / 1_000_000
        speed = transferred / elapsed if elapsed > 0 else None
    if status == "completed":
        percent: float | None = 100.0
        eta: int | None = 0
    else:
        percent = _percent(transferred, total)
        eta = None
        if ongoing and own_speed is None and job.get("reported_eta") is not None:
            eta = math.ceil(job["reported_eta"])  # the client's own claim, until we have ours
        elif ongoing and speed and total:
            remaining = max(total - transferred, 0) / speed
            # A crawl towards a huge total (or a client's tiny speed): no ETA a person or a
            # column could use, and an infinite quotient would not round.
            eta = math.ceil(remaining) if remaining <= MAX_SECONDS else None
    job.update(bytes_transferred=transferred, total_bytes=total, transfer_speed_bps=speed,
               eta_seconds=eta, progress_percent=percent)
    for index, disk in job["disks"].items():
        percent = (_percent(disk["bytes_transferred"], disk["total_bytes"])
                   if disk["total_bytes"] else disk["reported_percent"])
        if disk.get("progress_percent", -1.0) != percent:
            # A new dict, never an update in place: the state before the fold shares it.
            job["disks"][index] = {**disk, "progress_percent": percent}


def _copy(job: State) -> State:
    # Below the top level, disk dicts and samples are replaced, never changed in place, so the
    # copy shares them with `job` (which must stay as it was: a failed batch is folded again).
    return {**job, "disks": dict(job["disks"]), "samples": list(job["samples"])}


def apply_events(state: State | None, events: Sequence[Report],
                 measured: Sequence[tuple[int, int]] | None = None) -> State | None:
    """The job state after `events` (any order, duplicates allowed); `state` is not modified.
    `measured`: the events' `measures`, when the caller has them already."""
    job = None if state is None else _copy(state)
    for event, (ts, transferred) in zip(events, measured or measures(events), strict=True):
        job = _apply(job, event, ts, transferred)
    if job is not None:
        _derive(job)
    return job


def resume_alerts(before: State | None, after: State) -> list[Alert]:
    """Clearing alerts when fresh telemetry ended a stale/stalled spell (one per raised level)."""
    if before is None or before["stale_level"] == FRESH or after["stale_level"] != FRESH:
        return []
    at = from_micros(after["last_telemetry_us"])
    assert at is not None
    raised: dict[str, str] = before.get("open_alerts") or {}
    return [Alert.transition(ALERT_KINDS[level], after["job_id"], "cleared", at,
                             clears=raised.get(ALERT_KINDS[level]), job_type=after["job_type"])
            for level in range(before["stale_level"], FRESH, -1)]


def staleness(job: State, now_us: int, stale_after_s: float, stalled_after_s: float) -> int:
    """The level a job should be at now: only running jobs go stale."""
    if job["status"] != "running" or job["ended_seq"] is not None:
        return FRESH
    silent = now_us - job["last_telemetry_us"]
    if silent >= stalled_after_s * 1_000_000:
        return STALLED
    if silent >= stale_after_s * 1_000_000:
        return STALE
    return FRESH


def next_staleness_us(job: State, stale_after_s: float, stalled_after_s: float) -> int | None:
    """When `sweep` may next raise the job's staleness (epoch µs); None: it cannot (the job is
    not running, or already stalled). Rounded down: never later than `staleness` says."""
    if job["status"] != "running" or job["ended_seq"] is not None:
        return None
    higher = [after_s for level, after_s in ((STALE, stale_after_s), (STALLED, stalled_after_s))
              if level > job["stale_level"]]
    if not higher:
        return None
    last: int = job["last_telemetry_us"]
    return last + int(min(higher) * 1_000_000)


def sweep(job: State, now_us: int, stale_after_s: float, stalled_after_s: float
          ) -> tuple[State, list[Alert]] | None:
    """The job with its new staleness level and the alerts to raise; None when nothing changed.

    Levels only go up here (fresh telemetry is what brings them down, in `apply_events`).
    """
    level = staleness(job, now_us, stale_after_s, stalled_after_s)
    current = job["stale_level"]
    if level <= current:
        return None
    thresholds = {STALE: stale_after_s, STALLED: stalled_after_s}
    last = job["last_telemetry_us"]
    alerts = []
    for raised in range(current + 1, level + 1):
        at = from_micros(last + round(thresholds[raised] * 1_000_000))
        assert at is not None
        alerts.append(Alert.transition(ALERT_KINDS[raised], job["job_id"], "raised", at,
                                       job_type=job["job_type"],
                                       last_telemetry_at=from_micros(last)))
    since = job["stale_since_us"] or last + round(stale_after_s * 1_000_000)
    # The ids of the raised alerts, so that fresh telemetry clears exactly these.
    open_alerts = {**(job.get("open_alerts") or {}), **{a.kind: a.alert_id for a in alerts}}
    return {**job, "stale_level": level, "stale_since_us": since,
            "open_alerts": open_alerts}, alerts


def summary(job: State) -> dict[str, Any]:
    """The job as users see it (views, CLI): seed 003's fields, RFC 3339 times, disks, stale."""
    def iso(us: int | None) -> str | None:
        at = from_micros(us)
        return None if at is None else at.isoformat().replace("+00:00", "Z")

    return {
        "job_id": job["job_id"], "job_type": job["job_type"], "status": job["status"],
        "current_phase": job["current_phase"], "bytes_transferred": job["bytes_transferred"],
        "total_bytes": job["total_bytes"], "transfer_speed_bps": job["transfer_speed_bps"],
        "eta_seconds": job["eta_seconds"], "progress_percent": job["progress_percent"],
        "started_at": iso(job["started_us"]), "last_telemetry_at": iso(job["last_telemetry_us"]),
        "completed_at": iso(job["completed_us"]), "stale": job["stale_level"] != FRESH,
        "stale_level": STALENESS[job["stale_level"]], "staleness": STALENESS[job["stale_level"]],
        "stale_since": iso(job["stale_since_us"]), "error": job["error"],
        "last_seq": job["version"],
        "disks": [
            {"disk_index": int(index), "bytes_transferred": disk["bytes_transferred"],
             "total_bytes": disk["total_bytes"], "progress_percent": disk["progress_percent"],
             "status": disk["status"]}
            for index, disk in sorted(job["disks"].items(), key=lambda item: int(item[0]))
        ],
    }
