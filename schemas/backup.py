"""`backup.progress/1`: one progress report of a backup, replication or restore job.

Why it exists: the backup reporter library, the `backup-report` command and the seed 003 HTTP
endpoint all publish this one event to `telemetry.backup` (key: job_id). A report carries the
whole job as the reporter sees it (status, phase, totals, every disk), numbered by `seq`, which
is monotonic per job in event time: the stream workers use it to drop duplicates and stale
out-of-order reports.

What it must not do: aggregate. The job-level `bytes_transferred`, speed, ETA and percent here
are the reporter's own claims; the workers recompute them from the disks (the seed's bug was a
job total stuck at 0 while its disks moved).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from pydantic import Field, model_validator

from schemas import fast
from schemas.event import (
    INT8_MAX,
    Event,
    Identifier,
    NonNegativeFloat,
    NonNegativeInt,
    Part,
    Percent,
    Seconds,
    ShortText,
    Text,
)

JobType = Literal["backup", "replication", "restore"]
JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
JOB_TYPES: tuple[JobType, ...] = ("backup", "replication", "restore")
ENDED_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

MAX_DISKS = 1024
"""Disk indexes are 0..MAX_DISKS-1, so a job never has more disks than this, over all reports."""
MAX_DISK_BYTES = INT8_MAX // MAX_DISKS
"""Per-disk byte figures (about 8 PiB) are bounded so that a job's disks SUMMED still fit int8
(backup_jobs.bytes_transferred / total_bytes): the workers add up every disk a job ever
reported, also disks from different reports, so bounding one report's sum would not do."""

DiskIndex = Annotated[int, Field(ge=0, lt=MAX_DISKS)]
DiskBytes = Annotated[int, Field(ge=0, le=MAX_DISK_BYTES)]


class DiskProgress(Part):
    """Progress of one disk of a job; `bytes_transferred` is the disk's cumulative counter."""

    disk_index: DiskIndex
    bytes_transferred: DiskBytes
    total_bytes: DiskBytes | None = None
    progress_percent: Percent | None = None
    status: Identifier = "transferring"


class BackupProgress(Event):
    """One job progress report (seed 003's body plus the event envelope and `seq`)."""

    SCHEMA: ClassVar[str] = "backup.progress/1"
    schema_name: Literal["backup.progress/1"] = Field(default="backup.progress/1", alias="schema")

    job_id: Identifier
    job_type: JobType
    status: JobStatus
    current_phase: ShortText
    seq: NonNegativeInt
    bytes_transferred: NonNegativeInt = 0
    total_bytes: NonNegativeInt = 0
    transfer_speed_bps: NonNegativeFloat | None = None
    eta_seconds: Seconds | None = None
    progress_percent: Percent | None = None
    error: Text | None = None
    disks: list[DiskProgress] = Field(default_factory=list, max_length=MAX_DISKS)

    @model_validator(mode="after")
    def _disks_unique(self) -> BackupProgress:
        indexes = [disk.disk_index for disk in self.disks]
        if len(indexes) != len(set(indexes)):
            raise ValueError("disks: each disk_index may appear only once")
        return self


class DiskReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`DiskProgress` as the stream workers fold it (see `ProgressReport`)."""

    disk_index: Annotated[int, msgspec.Meta(ge=0, lt=MAX_DISKS)]
    bytes_transferred: Annotated[int, msgspec.Meta(ge=0, le=MAX_DISK_BYTES)]
    total_bytes: Annotated[int, msgspec.Meta(ge=0, le=MAX_DISK_BYTES)] | None = None
    progress_percent: fast.Percent | None = None
    status: fast.Identifier = "transferring"


class ProgressReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`BackupProgress` as the stream workers fold it: a msgspec struct (`schemas.fast`),
    decoded by `decode_progress` to the model's rules; same fields, same values."""

    event_id: fast.CanonicalUuid
    source: fast.Identifier
    ts: datetime
    job_id: fast.Identifier
    job_type: JobType
    status: JobStatus
    current_phase: fast.ShortText
    seq: fast.NonNegativeInt
    schema_name: Literal["backup.progress/1"] = msgspec.field(default="backup.progress/1",
                                                              name="schema")
    bytes_transferred: fast.NonNegativeInt = 0
    total_bytes: fast.NonNegativeInt = 0
    transfer_speed_bps: fast.NonNegativeFloat | None = None
    eta_seconds: fast.Seconds | None = None
    progress_percent: fast.Percent | None = None
    error: fast.Text | None = None
    disks: Annotated[list[DiskReport], msgspec.Meta(max_length=MAX_DISKS)] = []


Report = BackupProgress | ProgressReport
"""A report as the fold takes it: the stream's struct, or the model (HTTP views, tests)."""


def _check(report: ProgressReport, latest: datetime | None, plain: bool) -> None:
    if len({disk.disk_index for disk in report.disks}) != len(report.disks):
        raise fast.Refused("disks: each disk_index may appear only once")
    if not plain:
        fast.text(report.source + report.job_id + "".join([d.status for d in report.disks]),
                  report.current_phase + (report.error or ""))
    fast.event_time(report.ts, latest)
    fast.canonical_uuid(report.event_id)


def _from_model(model: BackupProgress) -> ProgressReport:
    fields = dict(model)
    fields["event_id"] = str(model.event_id)
    fields["disks"] = [DiskReport(**dict(disk)) for disk in model.disks]
    return ProgressReport(**fields)


decode_progress = fast.FastDecoder(ProgressReport, BackupProgress, _check, _from_model)
"""`schemas.event.decode(BackupProgress, ...)` as a `ProgressReport`, fast (`schemas.fast`)."""
