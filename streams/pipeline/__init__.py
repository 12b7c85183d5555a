"""The pipeline runtime: one write path (take -> decode -> fold -> project -> write -> ack).

- `domain`: what a domain hands the runtime (pure functions) and the records it works on;
- `runtime`: `Pipeline.process` / `Pipeline.sweep`, the numbered steps;
- `sink`, `policy`, `health`: the sink contract, retries and bisection, degraded state;
- `agent`: the binding to Faust (agent loop, sweep timer, Kafka for alerts and dead letters).
"""
