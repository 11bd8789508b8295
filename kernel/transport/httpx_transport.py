"""The general Transport: httpx's client API over aiohttp's connection pool, for multipart uploads, streamed
uploads and pass-through requests (which go out as httpx sends them: its default accept, accept-encoding and
user-agent headers included).

httpx's own pool collapses under concurrency (a bare pass-through measured ~370 req/s at 32 connections here,
~2,600 with httpx over an aiohttp transport): hence httpx-aiohttp underneath.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from kernel.transport.base import Stream, UpstreamResponse
from kernel.transport.errors import BODY, FAILURES, HEAD, upstream_error
from kernel.transport.http1 import ResponseTooLargeError
from kernel.transport.request import UpstreamRequest

if TYPE_CHECKING:
    from kernel.models import Deployment


def make_client(max_per_host: int = 512) -> httpx.AsyncClient:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    ssl_context = httpx.create_ssl_context(trust_env=False)  # certifi's CAs, as the fast client trusts

    def session() -> aiohttp.ClientSession:  # made on first use, inside the running loop
        connector = aiohttp.TCPConnector(limit=1000, limit_per_host=max_per_host, keepalive_timeout=60, ssl=ssl_context)
        return aiohttp.ClientSession(connector=connector)

    return httpx.AsyncClient(transport=AiohttpTransport(client=session), timeout=None, follow_redirects=False)


class HttpxTransport:
    """Owns one httpx client (made at start-up, or on first use) for every pipeline of a process."""

    def __init__(self, max_per_host: int = 512) -> None:
        self.client: httpx.AsyncClient | None = None
        self.max_per_host = max_per_host

    async def start(self) -> None:
        if self.client is None:
            self.client = make_client(self.max_per_host)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def send(self, req: UpstreamRequest, d: Deployment, timeout: float, cap: int) -> UpstreamResponse:
        if self.client is None:
            await self.start()
        request = self.client.build_request(req.method, req.url, headers=req.headers, content=req.content,
                                            data=req.data, files=req.files)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                response = await self.client.send(request, stream=True)
        except FAILURES as exc:
            raise upstream_error(exc, d, HEAD, timeout) from None
        status, headers = response.status_code, response.headers.raw
        if req.stream and status < 400:
            return UpstreamResponse(status, headers, stream=Stream(response.aiter_raw(), d, response.aclose))
        if status >= 400:
            return UpstreamResponse(status, headers, await _account(response, deadline, cap))
        try:
            async with asyncio.timeout_at(deadline):
                body = await read_capped(response, cap)
        except FAILURES as exc:
            raise upstream_error(exc, d, BODY, timeout) from None
        finally:
            await response.aclose()
        return UpstreamResponse(status, headers, body)


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole (decoded) body, held once as in http1.py; ResponseTooLargeError past `limit` bytes, where httpx's
    aread() has no limit at all."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(limit)
        parts.append(chunk)
    return b"".join(parts)


async def _account(response: httpx.Response, deadline: float, cap: int) -> bytes:
    """An error answer, decoded, at most `cap` bytes of it; what the deadline or a failure cut short is still its
    best account."""
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_bytes():
                parts.append(chunk)
                size += len(chunk)
                if size >= cap:
                    break
    except FAILURES:
        pass
    finally:
        await response.aclose()
    return b"".join(parts)[:cap]
