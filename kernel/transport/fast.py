"""The hot-path Transport: plain bodies and streams over the small pooled HTTP/1.1 client in http1.py.

httpx's client layers cost more than the rest of the pipeline together on this path (measured with
`python -m bench`: URL and header models, cookie extraction, auth and redirect hooks per request), so plain
requests skip them. See bench/README.md for the numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.transport.base import Stream, UpstreamResponse
from kernel.transport.errors import BODY, FAILURES, HEAD, upstream_error
from kernel.transport.http1 import Connection, Pool
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.models import Deployment


def handles(req: UpstreamRequest) -> bool:
    """Plain bodies only; multipart forms, streamed uploads and pass-through take the httpx path."""
    return (req.data is None and req.files is None and not req.passthrough
            and (req.content is None or type(req.content) is bytes))


class FastTransport:
    """One pool of keep-alive connections per process (TCP_NODELAY on each, at most `max_per_host` per host); see
    kernel/transport/http1.py, also for the memory one whole answer costs."""

    def __init__(self, max_per_host: int = 512) -> None:
        self.pool: Pool | None = None
        self.max_per_host = max_per_host

    async def start(self) -> None:
        if self.pool is None:
            self.pool = Pool(self.max_per_host)

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def send(self, req: UpstreamRequest, d: Deployment, timeout: float, cap: int) -> UpstreamResponse:
        pool = self.pool
        if pool is None:
            await self.start()
            pool = self.pool
        # One timer per exchange: a stream's covers its head (time to first byte), a whole answer's all of it.
        try:
            conn = await pool.request(req.method, req.url, req.headers, req.content, pool.loop.time() + timeout)
        except FAILURES as exc:
            raise upstream_error(exc, d, HEAD, timeout) from None
        # Taken now: once read, the connection may be handed to the next request, which resets them.
        status, headers = conn.status, conn.headers
        if req.stream and status < 400:
            conn.clear_deadline()
            return UpstreamResponse(status, headers, stream=_Body(conn, d))
        try:
            body = await conn.read(cap)
        except FAILURES as exc:
            if status < 400:
                raise upstream_error(exc, d, BODY, timeout) from None
            body = b""  # an error's account is best effort: the status alone still says what failed
        return UpstreamResponse(status, headers, body)


class _Body(Stream):
    """A streamed answer on a pooled connection. Its iterator hands the connection back when the body ends or
    breaks; aclose() before any iteration releases it here instead (a generator never started skips its finally,
    and the connection would stay open, holding a slot under its host's cap). Once handed back, the connection
    may carry another request: it is left alone then."""

    __slots__ = ("conn", "head")

    def __init__(self, conn: Connection, d: Deployment) -> None:
        self.chunks, self.d, self.close = conn.chunks(), d, None  # Stream's fields, set here: one call less per stream
        self.conn, self.head = conn, conn.head

    async def aclose(self) -> None:
        await self.chunks.aclose()
        if self.conn.head is self.head:  # still this exchange's: never iterated
            self.conn.release()
