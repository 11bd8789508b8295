"""Provider call: the one place that does upstream I/O, over one pooled keep-alive client per process."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import httpx

from kernel import offload
from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError, UpstreamTimeout, UpstreamUnavailable
from kernel.models import Deployment, timeouts
from kernel.registry import PROVIDERS, middleware
from kernel.transport.fast import FastClient, handles, too_large
from kernel.transport.http1 import ResponseTooLargeError
from kernel.upstream import UpstreamRequest
from middleware.client_credentials import apply_credentials


def make_client() -> httpx.AsyncClient:
    """httpx API over aiohttp's connection pool: httpx's own pool collapses under concurrency (see DESIGN.md)."""
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=60)
    transport = AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(transport=transport, timeout=None, follow_redirects=False)


class Upstream:
    """Owns the pooled client and sends UpstreamRequests; shared by every pipeline of a process."""

    def __init__(self, gateway) -> None:
        self.client: httpx.AsyncClient | None = None
        self.max_response = int(gateway.settings.general.max_response_size_mb * (1 << 20))
        self.fast = FastClient(self.max_response)  # the hot path: plain JSON bodies and streams
        self.router = gateway.settings.router
        self.shared = gateway.shared  # where provider `prepare` hooks keep what outlives a call (OAuth tokens)
        self.scrubber = gateway.scrubber
        gateway.on_startup(self.start)
        gateway.on_shutdown(self.stop)

    async def start(self) -> None:
        if self.client is None:
            self.client = make_client()
        self.fast.start()

    async def stop(self) -> None:
        await self.fast.stop()
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def timeouts(self, d: Deployment, call: Call) -> tuple[float, float]:
        return timeouts(d, self.router, call.options.get("request_timeout"))

    async def open(self, req: UpstreamRequest, d: Deployment, timeout: float) -> httpx.Response:
        """Send a request and return once the response head is in (the body is left to the caller)."""
        if self.client is None:
            await self.start()
        request = self.client.build_request(req.method, req.url, headers=req.headers, content=req.content,
                                            data=req.data, files=req.files)
        try:
            async with asyncio.timeout(timeout):
                return await self.client.send(request, stream=True)
        except TimeoutError:
            raise UpstreamTimeout(f"deployment {d.label} did not answer within {timeout:g}s", deployment=d.id) from None
        except httpx.TimeoutException as exc:
            if _refused(exc):
                raise UpstreamUnavailable(f"could not connect to deployment {d.label}", deployment=d.id) from None
            raise UpstreamTimeout(f"deployment {d.label} timed out", deployment=d.id) from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"could not reach deployment {d.label}: {type(exc).__name__}",
                                      deployment=d.id) from None

    async def send(self, call: Call, d: Deployment) -> Reply:
        provider = PROVIDERS[d.provider]
        if call.options.get("apply_credentials"):
            d = apply_credentials(d, call.options.get("credentials") or {})
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:  # credentials that need I/O first (a cached OAuth token), through this client
            minted = await prepare(d, self)
            if minted.api_key != d.api_key:
                self.scrubber.remember(minted.api_key)  # an upstream may echo it too; a set lookup when known
            d = minted
        if getattr(provider, "local", False):
            return await offload.run(call.raw, provider.answer, call, d)
        # Translating a big body (and serialising it) runs off the event loop, like its decoding did.
        req = await offload.run(call.raw, provider.build_request, call, d)
        total, first = self.timeouts(d, call)
        if handles(req):
            return await self.fast.call(call, req, d, provider, total, first)
        t0 = time.perf_counter()
        response = await self.open(req, d, first if req.stream else total)
        if response.status_code >= 400:
            try:
                async with asyncio.timeout(total):
                    data = await read_capped(response, self.max_response)
            except (TimeoutError, httpx.HTTPError, ResponseTooLargeError):
                data = b""
            finally:
                await response.aclose()
            call.upstream_s += time.perf_counter() - t0
            raise provider.parse_error(response.status_code, response.headers, data, d)
        if req.stream:
            call.upstream_s += time.perf_counter() - t0
            return Reply(
                status=response.status_code,
                stream=_body_chunks(response, d),
                wire=req.wire or getattr(provider, "wire", "openai"),
                decode_stream=functools.partial(provider.parse_stream, call),
                media_type=response.headers.get("content-type", "text/event-stream"),
            )
        try:
            async with asyncio.timeout(total - (time.perf_counter() - t0)):
                data = await read_capped(response, self.max_response)
        except ResponseTooLargeError:
            raise too_large(d, self.max_response) from None
        except TimeoutError:
            raise UpstreamTimeout(f"deployment {d.label} did not finish within {total:g}s", deployment=d.id) from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"deployment {d.label} broke off its answer: {type(exc).__name__}",
                                      deployment=d.id) from None
        finally:
            await response.aclose()
        call.upstream_s += time.perf_counter() - t0
        return Reply(
            status=response.status_code,
            raw=data,
            wire=req.wire or getattr(provider, "wire", "openai"),
            decode=functools.partial(provider.parse_response, call),
            media_type=response.headers.get("content-type", "application/json"),
        )


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


ERROR_BODY_LIMIT = 1 << 20  # an upstream's error answer is read whole to scrub it; past this it is cut off


async def relay(upstream: Upstream, call: Call, d: Deployment, req: UpstreamRequest) -> Reply:
    """Send a pass-through request and hand the upstream's answer back: a success untouched (status, type,
    bytes as they stream), an error read whole and scrubbed of secrets, since upstreams echo the key."""
    total, _ = upstream.timeouts(d, call)
    t0 = time.perf_counter()
    response = await upstream.open(req, d, total)
    media_type = response.headers.get("content-type", "application/json")
    if response.status_code < 400:
        return Reply(status=response.status_code, stream=_raw_chunks(response), wire="binary", media_type=media_type)
    data = b""
    try:
        async with asyncio.timeout(max(0.0, total - (time.perf_counter() - t0))):
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= ERROR_BODY_LIMIT:
                    break
    except (TimeoutError, httpx.HTTPError):
        pass  # what arrived is still the answer's best account
    finally:
        await response.aclose()
    scrub = upstream.scrubber
    return Reply(status=response.status_code, raw=scrub.scrub_bytes(data, call, (d.api_key,)), wire="binary",
                 media_type=scrub.scrub(media_type, call, (d.api_key,)))


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    finally:
        await response.aclose()


def _refused(exc: Exception) -> bool:
    """True when a 'timeout' is really a refused or failed connection (httpx-aiohttp maps aiohttp's
    ClientConnectorError to ConnectTimeout); the chained cause is an OSError that is not a timeout."""
    cause = exc.__cause__
    return isinstance(cause, OSError) and not isinstance(cause, TimeoutError)


async def _body_chunks(response: httpx.Response, d: Deployment) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; a broken connection mid-stream becomes a typed error."""
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"deployment {d.label} broke off its stream: {type(exc).__name__}",
                                  deployment=d.id) from None
    finally:
        await response.aclose()


def upstream_of(gateway) -> Upstream:
    up = gateway.shared.get("upstream")
    if up is None:
        up = gateway.shared["upstream"] = Upstream(gateway)
    return up


@middleware("provider_call")
class ProviderCall:
    def __init__(self, options, gateway) -> None:
        self.upstream = upstream_of(gateway)

    async def __call__(self, call: Call, next: Next) -> Reply:
        if call.deployment is None:
            raise GatewayError("provider_call needs a router before it in the chain", status=500)
        return await self.upstream.send(call, call.deployment)
