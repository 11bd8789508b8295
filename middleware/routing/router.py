"""Router: pick one deployment for the call's model (strategy, cooldowns), and account for how it went.

It sits inside `retry` and `fallback`, so it runs once per attempt: a retry comes back here with
`call.deployment` cleared and gets a fresh pick (another deployment first, when the group has one).
For a stream it waits for the first chunk before answering, so a stream that fails before its first
byte is an ordinary failure that can be retried or fall back; after that, errors travel in-band.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError, UpstreamTimeout
from kernel.models import Deployment, timeouts
from kernel.registry import middleware
from middleware.routing.context import RoutingContext, routing_of
from middleware.routing.probes import background_health_of
from middleware.routing.state import current_minute, state_key

_NOTHING = object()


@middleware("router")
class Router:
    def __init__(self, options, gateway) -> None:
        self.rc = routing_of(gateway)
        self.settings = gateway.settings.router
        background_health_of(gateway)  # when configured, probes feed this router's cooldowns (started once)

    async def __call__(self, call: Call, next: Next) -> Reply:
        rc: RoutingContext = call.routing or self.rc
        d = call.deployment
        if d is None:
            d = call.deployment = rc.select(call)
        stats = rc.state.of(state_key(d)) if rc.tracks else None
        if stats is not None and rc.track_busy:
            stats.in_flight += 1
        t0 = time.perf_counter()
        try:
            reply = await next(call)
            if reply.stream is not None and reply.wire != "binary":
                reply.stream = await self.first_chunk(reply.stream, call, d, rc, stats, t0)
                stats = None  # the stream's end settles in-flight now
            elif stats is not None:
                settle(rc, stats, reply, t0)
            return reply
        except GatewayError as err:
            rc.failed(call, d, err, (time.perf_counter() - t0) * 1000)
            raise
        finally:
            if stats is not None and rc.track_busy:
                stats.in_flight -= 1

    async def first_chunk(self, stream: AsyncIterator[Any], call: Call, d: Deployment, rc: RoutingContext,
                          stats, t0: float) -> Primed:
        _, first_timeout = timeouts(d, self.settings, call.options.get("request_timeout"))
        left = first_timeout - (time.perf_counter() - t0)
        try:
            first = await _first(stream, left)
        except TimeoutError:
            await _close(stream)
            raise UpstreamTimeout(f"deployment {d.label} sent no stream chunk within {first_timeout:g}s",
                                  deployment=d.id) from None
        except BaseException:
            await _close(stream)
            raise
        if stats is not None and rc.track_latency:
            stats.latencies.append(time.perf_counter() - t0)
        primed = Primed(first, stream, rc, call, d)
        if stats is not None and rc.track_busy:
            primed.busy = stats
        return primed


def settle(rc: RoutingContext, stats, reply: Reply, t0: float) -> None:
    """After a whole (non-stream) answer: latency and token usage for the strategies that steer by them."""
    if rc.track_latency:
        stats.latencies.append(time.perf_counter() - t0)
    if rc.track_usage:
        stats.usage(current_minute()).tpm_used += tokens_of(reply)


def tokens_of(reply: Reply) -> int:
    """total_tokens of an answer, from what normalize (inside this link) decoded: the canonical body, or on the fast
    path the checked parse of the bytes. Parsing bytes is normalize's job alone; an answer it did not parse (one over
    2 MiB on the fast path, which is only shape-checked) counts no tokens toward usage-based routing."""
    body = reply.body if reply.body is not None else reply.parsed
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict):
        total = usage.get("total_tokens")
        if total is None:
            total = (usage.get("input_tokens") or 0) + (usage.get("output_tokens") or 0)
        return int(total or 0)
    return 0


async def _first(stream: AsyncIterator[Any], timeout: float) -> Any:
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            return await stream.__anext__()
    except StopAsyncIteration:
        return _NOTHING


async def _close(stream: AsyncIterator[Any]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing a broken upstream stream may fail again; the first error is the one to report
            pass


class Primed:
    """A stream whose first chunk has already arrived: yields it, then the rest; a failure later in the
    stream still counts toward the deployment's cooldown."""

    __slots__ = ("busy", "call", "d", "first", "rc", "rest")

    def __init__(self, first: Any, rest: AsyncIterator[Any], rc: RoutingContext, call: Call, d: Deployment) -> None:
        self.first, self.rest, self.rc, self.call, self.d = first, rest, rc, call, d
        self.busy = None

    def __aiter__(self) -> Primed:
        return self

    async def __anext__(self) -> Any:
        first = self.first
        if first is not None:
            self.first = None
            if first is not _NOTHING:
                return first
            self._done()
            raise StopAsyncIteration
        try:
            return await self.rest.__anext__()
        except StopAsyncIteration:
            self._done()
            raise
        except GatewayError as err:
            self._done()
            self.rc.failed(self.call, self.d, err, 0.0)
            raise

    async def aclose(self) -> None:
        self._done()
        await _close(self.rest)

    def _done(self) -> None:
        busy = self.busy
        if busy is not None:
            self.busy = None
            busy.in_flight -= 1
