-- Node snapshots over time, in seed 000's API columns (memory in MiB, the primary disk in GiB,
-- network rates in MiB/s computed from the raw counters). One row per node and event time:
-- re-delivered snapshots hit the primary key and are skipped (ON CONFLICT DO NOTHING).
CREATE TABLE IF NOT EXISTS telemetry_history (
    node_id              TEXT             NOT NULL,
    timestamp            TIMESTAMPTZ      NOT NULL,
    cpu_percent          DOUBLE PRECISION NOT NULL,
    memory_percent       DOUBLE PRECISION NOT NULL,
    memory_used_mb       BIGINT,
    memory_total_mb      BIGINT,
    disk_percent         DOUBLE PRECISION,
    disk_used_gb         DOUBLE PRECISION,
    disk_total_gb        DOUBLE PRECISION,
    network_rx_bytes     BIGINT,
    network_tx_bytes     BIGINT,
    network_rx_rate_mbps DOUBLE PRECISION,
    network_tx_rate_mbps DOUBLE PRECISION,
    uptime_seconds       BIGINT,
    process_count        INTEGER,
    active_connections   INTEGER,
    load_avg_1m          DOUBLE PRECISION,
    load_avg_5m          DOUBLE PRECISION,
    load_avg_15m         DOUBLE PRECISION,
    PRIMARY KEY (node_id, timestamp)
);

-- The seed's operational query: recent snapshots across all nodes.
CREATE INDEX IF NOT EXISTS telemetry_history_timestamp ON telemetry_history (timestamp);
