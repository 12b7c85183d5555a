"""The VM agent: libvirt statistics of every domain on a host, published to `telemetry.vm`.

`libvirt_source` talks to libvirt (one thread, timeouts, reconnects, one bulk call per cycle),
`convert` turns libvirt's statistics into `VmSample` events (pure), `agent` is the polling loop
publishing through the shared durable outbox, and `api` is seed 002's REST control API.
"""
