-- Latest known state of every compute worker (seed 004), from telemetry.heartbeat.
-- Upserts are guarded by last_update, so a slower or replaying writer never moves a row back.
CREATE TABLE IF NOT EXISTS workers (
    worker_id      text PRIMARY KEY,
    cpu_usage      double precision NOT NULL,
    memory_usage   double precision NOT NULL,
    gpu_usage      double precision,
    running_tasks  jsonb            NOT NULL DEFAULT '[]'::jsonb,
    last_update    timestamptz      NOT NULL,
    is_active      boolean          NOT NULL
);
