"""MemoryTransport(handler): a Transport with no socket, for tests of whole chains (like httpx.MockTransport).

The handler gets each UpstreamRequest and returns an UpstreamResponse (or awaits one; `respond()` builds one);
it may raise what a network raises (ConnectionRefusedError, TimeoutError) or a typed upstream error. The
transport keeps the contract the real ones keep: the deadline, the cap, a whole body or a stream as asked,
and every failure mapped in kernel/transport/errors.py.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from kernel.transport.base import Stream, UpstreamResponse
from kernel.transport.errors import BODY, FAILURES, HEAD, upstream_error
from kernel.transport.http1 import ResponseTooLargeError
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.models import Deployment

Handler = Callable[[UpstreamRequest], UpstreamResponse | Awaitable[UpstreamResponse]]


def respond(status: int = 200, body: Any = b"", headers: dict[str, str] | None = None,
            chunks: list[bytes] | None = None) -> UpstreamResponse:
    """An answer for a handler to return: `body` as bytes or JSON (a dict or list), or `chunks` streamed."""
    headers = dict(headers or {})
    if chunks is not None:
        headers.setdefault("content-type", "text/event-stream")
        return UpstreamResponse(status, _raw(headers), stream=_pieces(chunks))
    if not isinstance(body, bytes | bytearray):
        body = orjson.dumps(body)
        headers.setdefault("content-type", "application/json")
    return UpstreamResponse(status, _raw(headers), bytes(body))


class MemoryTransport:
    """Answers every request with `handler(request)`; `requests` keeps what it was sent, in order."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[UpstreamRequest] = []

    async def aclose(self) -> None:
        pass

    async def send(self, req: UpstreamRequest, d: Deployment, timeout: float, cap: int) -> UpstreamResponse:
        self.requests.append(req)
        try:
            async with asyncio.timeout(timeout):
                resp = self.handler(req)
                if inspect.isawaitable(resp):
                    resp = await resp
        except FAILURES as exc:
            raise upstream_error(exc, d, HEAD, timeout) from None
        if req.stream and resp.status < 400:
            stream = resp.stream if resp.stream is not None else _pieces([resp.body or b""])
            return UpstreamResponse(resp.status, resp.headers, stream=Stream(stream, d))
        body = resp.body or b""
        try:
            if resp.stream is not None:
                body = await _join(resp.stream, cap)
            elif len(body) > cap:
                raise ResponseTooLargeError(cap)
        except FAILURES as exc:
            if resp.status < 400:
                raise upstream_error(exc, d, BODY, timeout) from None
            body = b""
        return UpstreamResponse(resp.status, resp.headers, body)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def _pieces(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _join(stream: AsyncIterator[bytes], cap: int) -> bytes:
    parts, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > cap:
            raise ResponseTooLargeError(cap)
        parts.append(chunk)
    return b"".join(parts)
