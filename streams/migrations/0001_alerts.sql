-- Alerts raised by workers. alert_id is deterministic per transition, so a re-sent alert is a no-op.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id    text PRIMARY KEY,
    kind        text        NOT NULL,
    subject     text        NOT NULL,
    raised_at   timestamptz NOT NULL,
    cleared_at  timestamptz,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS alerts_subject ON alerts (kind, subject, raised_at);
