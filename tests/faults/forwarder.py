"""A TCP relay for the network-partition test: `python -m tests.faults.forwarder LISTEN=TARGET ...`.

Why it exists: the shared broker, PostgreSQL and TSDB listen on the host's 127.0.0.1 and Kafka
clients connect to the broker's *advertised* address, 127.0.0.1:PORT. A worker in a network
namespace of its own has a loopback of its own, so the test runs one relay inside the namespace
(its 127.0.0.1:PORT to the host's address on the test's wire) and one on the host (that address
to the host's 127.0.0.1:PORT): the worker's addresses work unchanged and all its traffic crosses
the wire, where the test cuts it (`tests.faults.netns`). LISTEN is `HOST:PORT` or `unix:PATH` (a
filesystem socket is reachable from every namespace: the test asks the partitioned worker's
views through one while the wire is cut); TARGET is `HOST:PORT`.

Only stdlib, no external binaries. It prints `ready` once every listener is bound and runs until
SIGTERM. What it must not do: listen on or connect to anything but the addresses it is given.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress

CHUNK = 65536


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF or a broken connection, then close the other side (a relay
    of a connection that ended must end both halves)."""
    # A reset or a broken pipe ends the relayed connection, as it would a direct one.
    with suppress(ConnectionError):
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    sink.close()


def relay(target: tuple[str, int]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                               Awaitable[None]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()  # the client sees the refusal as a closed connection
            return
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
    return serve


async def serve(routes: list[tuple[str, tuple[str, int]]]) -> None:
    servers = []
    for listen, target in routes:
        if listen.startswith("unix:"):
            servers.append(await asyncio.start_unix_server(relay(target), listen[5:]))
        else:
            servers.append(await asyncio.start_server(relay(target), *address(listen)))
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str]) -> None:
    routes = []
    for arg in argv:
        listen, _, target = arg.partition("=")
        routes.append((listen, address(target)))
    asyncio.run(serve(routes))


if __name__ == "__main__":
    main(sys.argv[1:])
