"""A real loopback HTTP server that answers a byte at a time: per-call deadlines' tests.

Each connection gets ``answer`` one byte every ``every_s`` seconds, then silence with the
connection held open: what a server (or a proxy) that is alive but stuck looks like.
Socket timeouts never fire on it, since every read gets a byte in time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


def trickle(answer: bytes, every_s: float) -> Iterator[str]:
    """A loopback server that sends ``answer`` one byte every ``every_s`` per connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                for byte in answer:
                    if stop.is_set():
                        return
                    connection.sendall(bytes([byte]))
                    time.sleep(every_s)
                while not stop.is_set():  # then silence, the connection kept open
                    time.sleep(0.05)
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
