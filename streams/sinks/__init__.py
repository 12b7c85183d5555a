"""The sinks: PostgreSQL, the TSDB and Kafka topics, each behind the contract of
`streams.pipeline.sink` (one `write`, one `classify` of its client's errors)."""
