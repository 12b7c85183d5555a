"""Where telemetry comes from: the agents on each machine and the delivery path they share.

Why it exists: every producer (node agent, VM agent, backup reporter, heartbeat emitter) has the
same hard problem — keep collecting while Kafka is unreachable, lose nothing it can keep, and say
so when it must drop something. That is solved once here: `outbox` is a durable, bounded SQLite FIFO
and `publisher` drains it into Kafka, deleting a row only after Kafka acknowledged it.

What it must not do: reach downstream into `streams/`; decode, validate or re-encode the events the
agents hand over (each event carries its own stable `event_id`, so a resend is a duplicate the
stream workers drop, not a new event).
"""
