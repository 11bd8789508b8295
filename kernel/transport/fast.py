"""The hot-path upstream call: plain bodies and streams over the small pooled HTTP/1.1 client in http1.py.

httpx stays the client API of the gateway (`Upstream.open` hands out `httpx.Response`s, providers get
`httpx.Headers`), but the request/response hot path skips httpx's client layers: measured with
`python -m bench`, they cost more than the rest of the pipeline together (URL and header models,
cookie extraction, auth and redirect hooks per request). See bench/README.md for the numbers.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from kernel.call import Call, Reply
from kernel.errors import UpstreamResponseTooLarge, UpstreamTimeout, UpstreamUnavailable
from kernel.models import Deployment
from kernel.transport.http1 import Connection, Pool, ResponseTooLargeError, UpstreamTimeoutError
from kernel.upstream import UpstreamRequest


def handles(req: UpstreamRequest) -> bool:
    """Plain bodies only; multipart forms and streamed uploads take the httpx path."""
    return req.data is None and req.files is None and (req.content is None or type(req.content) is bytes)


def too_large(d: Deployment, limit: int) -> UpstreamResponseTooLarge:
    return UpstreamResponseTooLarge(
        f"deployment {d.label} answered more than {limit / (1 << 20):g} MiB, the limit for a non-streamed answer "
        "(general_settings.max_response_size_mb); stream the call or raise the limit", deployment=d.id)


class FastClient:
    """One pool of keep-alive connections per process (TCP_NODELAY on each); see kernel/transport/http1.py.

    A non-streamed answer is held whole, at most `max_response` bytes of it (see http1.py for the memory bound)."""

    def __init__(self, max_response: int = 128 << 20) -> None:
        self.pool: Pool | None = None
        self.max_response = max_response

    def start(self) -> None:
        if self.pool is None:
            self.pool = Pool()

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def _request(self, req: UpstreamRequest, d: Deployment, seconds: float) -> Connection:
        if self.pool is None:
            self.start()
        try:
            return await self.pool.request(req.method, req.url, req.headers, req.content,
                                           self.pool.loop.time() + seconds)
        except UpstreamTimeoutError:
            raise UpstreamTimeout(f"deployment {d.label} did not answer within {seconds:g}s", deployment=d.id) from None
        except (OSError, ValueError) as exc:
            raise UpstreamUnavailable(f"could not reach deployment {d.label}: {type(exc).__name__}",
                                      deployment=d.id) from None

    async def call(self, call: Call, req: UpstreamRequest, d: Deployment, provider: Any, total: float,
                   first: float) -> Reply:
        """Send `req` and turn the answer into a Reply: raw bytes or a byte stream in the provider's wire."""
        t0 = time.perf_counter()
        wire = req.wire or getattr(provider, "wire", "openai")
        # One timer per exchange: a stream's covers its head (time to first byte), a plain answer's all of it.
        conn = await self._request(req, d, first if req.stream else total)
        if conn.status >= 400:
            await self._fail(call, conn, d, provider, t0)
        if req.stream:
            conn.clear_deadline()
            call.upstream_s += time.perf_counter() - t0
            return Reply(status=conn.status, stream=_chunks(conn, d), wire=wire,
                         decode_stream=_bind_stream(provider, call),
                         media_type=_text(conn.header(b"content-type"), "text/event-stream"))
        try:
            data = await conn.read(self.max_response)
        except ResponseTooLargeError:
            raise too_large(d, self.max_response) from None
        except UpstreamTimeoutError:
            raise UpstreamTimeout(f"deployment {d.label} did not finish within {total:g}s", deployment=d.id) from None
        except (OSError, zlib.error) as exc:
            raise UpstreamUnavailable(f"deployment {d.label} broke off its answer: {type(exc).__name__}",
                                      deployment=d.id) from None
        call.upstream_s += time.perf_counter() - t0
        return Reply(status=conn.status, raw=data, wire=wire, decode=_bind(provider.parse_response, call),
                     media_type=_text(conn.header(b"content-type"), "application/json"))

    async def _fail(self, call: Call, conn: Connection, d: Deployment, provider: Any, t0: float) -> None:
        """Read an error answer (best effort, within the request's deadline) and raise the provider's typed error."""
        try:
            data = await conn.read(self.max_response)
        except (OSError, zlib.error, ResponseTooLargeError):
            data = b""
        call.upstream_s += time.perf_counter() - t0
        raise provider.parse_error(conn.status, httpx.Headers(conn.headers), data, d)


def _text(value: bytes | None, default: str) -> str:
    return value.decode("latin-1") if value is not None else default


def _bind(fn, call: Call):
    # A closure, not functools.partial: same cost, and it reads as what it is.
    return lambda data: fn(call, data)


def _bind_stream(provider: Any, call: Call):
    return lambda chunks: provider.parse_stream(call, chunks)


async def _chunks(conn: Connection, d: Deployment) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; a broken connection mid-stream becomes a typed error."""
    try:
        async for chunk in conn.chunks():
            yield chunk
    except OSError as exc:
        raise UpstreamUnavailable(f"deployment {d.label} broke off its stream: {type(exc).__name__}",
                                  deployment=d.id) from None
