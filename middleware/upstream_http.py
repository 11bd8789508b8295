"""The hot-path upstream client: aiohttp's pooled keep-alive connections, called directly.

httpx stays the client API of the gateway (`Upstream.open` hands out `httpx.Response`s, providers get
`httpx.Headers`), but the request/response hot path skips httpx's client layers: measured with
`python -m bench`, they cost more than the rest of the pipeline together (URL and header models,
cookie extraction, auth and redirect hooks per request). See bench/README.md for the numbers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

from kernel.call import Call, Reply
from kernel.errors import UpstreamTimeout, UpstreamUnavailable
from kernel.models import Deployment
from kernel.upstream import UpstreamRequest


def handles(req: UpstreamRequest) -> bool:
    """Plain bodies only; multipart forms and streamed uploads take the httpx path."""
    return req.data is None and req.files is None and (req.content is None or type(req.content) is bytes)


class FastClient:
    """One aiohttp session per process; TCP_NODELAY is aiohttp's default on every connection."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
            # No cookie jar: an API gateway must not carry one client's cookies into another client's call.
            self.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                 trust_env=False, timeout=aiohttp.ClientTimeout(total=None))

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _request(self, req: UpstreamRequest, d: Deployment) -> aiohttp.ClientResponse:
        if self.session is None:
            self.start()
        try:
            return await self.session.request(req.method, req.url, headers=req.headers, data=req.content,
                                              allow_redirects=False)
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"could not reach deployment {d.label}: {type(exc).__name__}",
                                      deployment=d.id) from None

    async def call(self, call: Call, req: UpstreamRequest, d: Deployment, provider: Any, total: float,
                   first: float) -> Reply:
        """Send `req` and turn the answer into a Reply: raw bytes or a byte stream in the provider's wire."""
        t0 = time.perf_counter()
        wire = req.wire or getattr(provider, "wire", "openai")
        if req.stream:
            try:
                async with asyncio.timeout(first):
                    resp = await self._request(req, d)
            except TimeoutError:
                raise UpstreamTimeout(f"deployment {d.label} did not answer within {first:g}s", deployment=d.id) from None
            if resp.status >= 400:
                await self._fail(call, resp, d, provider, total, t0)
            call.upstream_s += time.perf_counter() - t0
            return Reply(status=resp.status, stream=_chunks(resp, d), wire=wire,
                         decode_stream=_bind_stream(provider, call),
                         media_type=resp.headers.get("content-type", "text/event-stream"))
        resp = None
        try:
            # One timer for the whole exchange: head and body share the `total` budget.
            async with asyncio.timeout(total):
                resp = await self._request(req, d)
                if resp.status >= 400:
                    await self._fail(call, resp, d, provider, total, t0)
                data = await resp.read()
        except TimeoutError:
            if resp is not None:
                resp.close()
            what = "answer" if resp is None else "finish"
            raise UpstreamTimeout(f"deployment {d.label} did not {what} within {total:g}s", deployment=d.id) from None
        except aiohttp.ClientError as exc:
            if resp is not None:
                resp.close()
            raise UpstreamUnavailable(f"deployment {d.label} broke off its answer: {type(exc).__name__}",
                                      deployment=d.id) from None
        call.upstream_s += time.perf_counter() - t0
        return Reply(status=resp.status, raw=data, wire=wire, decode=_bind(provider.parse_response, call),
                     media_type=resp.headers.get("content-type", "application/json"))

    async def _fail(self, call: Call, resp: aiohttp.ClientResponse, d: Deployment, provider: Any, total: float,
                    t0: float) -> None:
        """Read an error answer (best effort) and raise the provider's typed error for it."""
        try:
            async with asyncio.timeout(max(0.001, total - (time.perf_counter() - t0))):
                data = await resp.read()
        except (TimeoutError, aiohttp.ClientError):
            data = b""
        finally:
            resp.release()
        call.upstream_s += time.perf_counter() - t0
        raise provider.parse_error(resp.status, httpx.Headers(resp.raw_headers), data, d)


def _bind(fn, call: Call):
    # A closure, not functools.partial: same cost, and it reads as what it is.
    return lambda data: fn(call, data)


def _bind_stream(provider: Any, call: Call):
    return lambda chunks: provider.parse_stream(call, chunks)


async def _chunks(resp: aiohttp.ClientResponse, d: Deployment) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; a broken connection mid-stream becomes a typed error."""
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable(f"deployment {d.label} broke off its stream: {type(exc).__name__}",
                                  deployment=d.id) from None
    finally:
        # Done: the connection goes back to the pool; cut short (client gone): release() closes it instead.
        resp.release()
