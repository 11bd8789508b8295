"""Response normalize: provider wire → canonical form, unless the client speaks the provider's wire (fast path).

Either way the upstream's 2xx is checked to be an answer before it climbs past the router (kernel/guards/answers.py):
on the fast path a whole body is parsed once and its top-level shape checked (a lighter check past 2 MiB), on
both paths an SSE stream is checked line by line as it passes, and a provider parser that cannot read what it
got is a typed 502, not a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from kernel.call import Call, Next, Reply
from kernel.guards.answers import STREAMS, StreamCheck, checked_fast, checked_stream, invalid
from kernel.registry import DIALECTS, middleware

log = logging.getLogger("relaykit")

# What a provider's parser raises on an answer it cannot read (a list where it expects an object, a missing
# key, text where it expects JSON); anything else is a bug of relaykit's and stays a 500.
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError)


@middleware("normalize")
class ResponseNormalize:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        reply = await next(call)
        wire = reply.wire
        if wire is None or wire == "binary":
            return reply
        if reply.stream is not None and wire in STREAMS:
            reply.stream = checked_stream(reply.stream, StreamCheck(call, done_ok=STREAMS[wire]))
        if wire == DIALECTS[call.dialect].wire:
            if reply.stream is None and reply.raw is not None:
                reply.parsed = checked_fast(call, reply.raw, wire)
            return reply
        if reply.stream is not None:
            reply.canonical_stream()
            reply.stream = _readable(reply.stream, call)
        else:
            try:
                reply.canonical()
            except _UNREADABLE as exc:
                raise _unreadable(call, exc) from None
        return reply


def _unreadable(call: Call, exc: Exception):
    log.warning("call %s: the %s parser could not read the answer of deployment %s", call.id,
                call.deployment.provider if call.deployment else "provider",
                call.deployment.id if call.deployment else "?", exc_info=exc)
    return invalid(call, f"an answer relaykit could not read ({type(exc).__name__})")


async def _readable(stream: AsyncIterator[dict], call: Call) -> AsyncIterator[dict]:
    try:
        async for chunk in stream:
            yield chunk
    except _UNREADABLE as exc:
        raise _unreadable(call, exc) from None
