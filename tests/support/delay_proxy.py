"""A TCP proxy on loopback that delays every chunk the client sends: a far-away cluster.

``kubectl port-forward`` from a CI runner adds the runner's round trip to the API server
and the node to every request; this proxy adds a fixed delay to each request instead
(each chunk from the client waits ``delay_s`` before it is forwarded; answers flow back
at once), so a test can show that the gate's verdict does not depend on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    try:
        while data := await reader.read(65536):
            if delay_s:
                await asyncio.sleep(delay_s)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextmanager
def delaying_proxy(target: str, delay_s: float) -> Iterator[str]:
    """Listen on a free loopback port and forward to ``target`` (HOST:PORT); yield HOST:PORT."""
    host, port = target.rsplit(":", 1)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    address: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer, delay_s), _pipe(up_reader, writer, 0.0))

    async def serve() -> asyncio.Server:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        address.append(f"127.0.0.1:{server.sockets[0].getsockname()[1]}")
        started.set()
        return server

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(serve())
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
