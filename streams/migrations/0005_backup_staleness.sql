-- Seed 003 users look for stale jobs in the table: `staleness` is kept in step with the
-- backup.stale / backup.stalled alerts (`status` stays what the client reported).
ALTER TABLE backup_jobs ADD COLUMN IF NOT EXISTS staleness text NOT NULL DEFAULT 'fresh'
    CHECK (staleness IN ('fresh', 'stale', 'stalled'));
CREATE INDEX IF NOT EXISTS backup_jobs_staleness ON backup_jobs (staleness)
    WHERE staleness <> 'fresh';
