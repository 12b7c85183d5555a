"""The node agent: this machine's CPU, memory, disks, network and load, to `telemetry.node`.

`collector` reads psutil (blocking, so it runs on its own thread) into a `NodeSnapshot`; `agent`
is the interval loop publishing through the shared durable outbox (`producers.publisher`).
"""
