-- Backup-job projections (seed 003's columns). Rows are written from the stream workers' job state
-- with a monotonic guard on last_seq (the highest seq seen for the job), so a replay or a stale
-- writer never moves a row backwards. Times are event times, so a replay gives identical rows.
CREATE TABLE IF NOT EXISTS backup_jobs (
    job_id              text PRIMARY KEY,
    job_type            text        NOT NULL,
    status              text        NOT NULL,
    current_phase       text        NOT NULL,
    bytes_transferred   bigint      NOT NULL DEFAULT 0,
    total_bytes         bigint      NOT NULL DEFAULT 0,
    transfer_speed_bps  double precision,
    eta_seconds         bigint,
    progress_percent    numeric(5, 2),
    started_at          timestamptz,
    last_telemetry_at   timestamptz,
    completed_at        timestamptz,
    stale_since         timestamptz,
    error               text,
    last_seq            bigint      NOT NULL,
    updated_at          timestamptz NOT NULL
);
-- Seed 003's index for stale-job queries.
CREATE INDEX IF NOT EXISTS backup_jobs_last_telemetry ON backup_jobs (status, last_telemetry_at);

CREATE TABLE IF NOT EXISTS backup_disks (
    job_id             text        NOT NULL REFERENCES backup_jobs (job_id),
    disk_index         integer     NOT NULL,
    bytes_transferred  bigint      NOT NULL DEFAULT 0,
    total_bytes        bigint,
    progress_percent   numeric(5, 2),
    status             text        NOT NULL,
    last_seq           bigint      NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (job_id, disk_index)
);
