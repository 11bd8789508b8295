"""An upstream that reads each request and never answers it, and counts the connections the gateway closes."""

from __future__ import annotations

import asyncio
import threading
import time


class HoldingUpstream:
    """A raw HTTP server on loopback (its own thread and event loop): every request is held unanswered, so the only
    way a connection ends is the gateway closing it. `requests` and `closed` count heads seen and connections
    closed after a head; read them from the test thread (the loop thread only increments them)."""

    def __init__(self) -> None:
        self.requests = 0
        self.closed = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.transports: set[asyncio.Transport] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HoldingUpstream:
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(
            self.loop.create_server(lambda: _Held(self), "127.0.0.1", 0), self.loop)
        self.server = started.result(timeout=10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self.server.close()
            for transport in list(self.transports):
                transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def wait_for(self, what: str, count: int, timeout: float) -> bool:
        """Whether `requests` or `closed` reaches `count` within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while getattr(self, what) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


class _Held(asyncio.Protocol):
    def __init__(self, fake: HoldingUpstream) -> None:
        self.fake = fake
        self.head = b""
        self.asked = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.fake.transports.add(transport)

    def data_received(self, data: bytes) -> None:
        if not self.asked:
            self.head += data
            if b"\r\n\r\n" in self.head:
                self.asked = True
                self.fake.requests += 1

    def connection_lost(self, exc) -> None:
        self.fake.transports.discard(self.transport)
        if self.asked:
            self.fake.closed += 1
