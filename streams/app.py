"""The Faust application: one per worker process, configured from `Settings`.

Why it exists: every agent, table, timer and web view registers on this `app`. Modules under
`streams.agents` and `streams.web` are discovered automatically at worker start, so adding a domain
never edits this file.

Processing guarantee: at-least-once. Agents consume in batches and write their projections before
the batch's offsets are acknowledged (see `streams.pipeline.runtime`); all sinks are idempotent.
"""

from __future__ import annotations

from datetime import timedelta

import faust

from common import kafka
from common.settings import WORKER, Settings
from schemas.codec import CODEC_NAME, register_with_faust
from streams import faust_tuning, stalled_partitions

settings = Settings.load(process=WORKER)
register_with_faust()
faust_tuning.patch_fetch_max_wait(settings.fetch_max_wait_ms)
faust_tuning.patch_quiet_root_logger()
faust_tuning.patch_declared_topic_metadata()
faust_tuning.patch_seek_uncommitted_partitions()
faust_tuning.patch_no_gap_filling()
faust_tuning.patch_commit_only_from_the_committed_head()
faust_tuning.patch_group_contact()
faust_tuning.patch_bulk_recovery()
faust_tuning.patch_producer_buffer_flush()


app = faust.App(
    settings.app_id,
    **kafka.faust_kwargs(settings),  # broker URL and, when secured, broker_credentials
    # Tables live in memory and are rebuilt from their changelog topics at start; state sizes
    # here (jobs, nodes, VMs, workers) are small.
    store="memory://",
    datadir=str(settings.data_dir / "faust" / f"{settings.app_id}-{settings.web_port}"),
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    topic_allow_declare=True,
    key_serializer="raw",
    value_serializer=CODEC_NAME,
    table_standby_replicas=1,
    web_enabled=True,
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_bind=settings.web_bind or settings.web_host,
    canonical_url=settings.web_url,
    web_in_thread=False,
    consumer_auto_offset_reset="earliest",
    # A worker can join its group before its topics exist (Faust creates them after
    # subscribing); a short metadata age makes it see them, and rebalance, within seconds
    # instead of Kafka's default 5 minutes.
    consumer_metadata_max_age_ms=3000,
    broker_commit_interval=timedelta(seconds=1.0),
    producer_acks=-1,
    stream_wait_empty=False,
    autodiscover=["streams.agents", "streams.web"],
    origin="streams",
    # Fetch size, stream buffer and Cython fast paths, each measured (docs/performance.md).
    **faust_tuning.tuned_app_kwargs(),
)
# Partitions whose tail Faust dropped are read again (`streams.stalled_partitions`).
stalled_partitions.watch(app)
