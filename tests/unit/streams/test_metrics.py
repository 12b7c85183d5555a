"""Reading a worker's batch counts back from its own `/metrics` exposition."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.metrics import batch_totals


def test_batch_totals_are_one_pipelines_count_and_sum() -> None:
    registry = CollectorRegistry()
    sizes = Histogram("fleetstream_batch_size", "Records per processed batch.", ["pipeline"],
                      registry=registry)
    for pipeline, size in (("backup", 7), ("backup", 9_500), ("node", 3)):
        sizes.labels(pipeline).observe(size)
    exposition = generate_latest(registry).decode()
    assert batch_totals(exposition, "backup") == (2, 9_507)
    assert batch_totals(exposition, "node") == (1, 3)
    assert batch_totals(exposition, "vm") == (0, 0)


def test_the_largest_batch_a_worker_takes_has_a_bucket_of_its_own() -> None:
    from common.settings import Settings
    from streams.metrics import BATCH_SIZE

    largest = Settings.load({}, dotenv=None).batch_max_events
    finite = [bound for bound in BATCH_SIZE._upper_bounds if bound != float("inf")]
    assert finite[-1] >= largest, "batches of FLEETSTREAM_BATCH_MAX_EVENTS would land in +Inf"
    assert largest > finite[-3], "the buckets near the top still tell batch sizes apart"
