"""Response normalize: provider wire → canonical form, unless the client speaks the provider's wire (fast path)."""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.registry import DIALECTS, middleware


@middleware("normalize")
class ResponseNormalize:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        reply = await next(call)
        wire = reply.wire
        if wire is None or wire == "binary" or wire == DIALECTS[call.dialect].wire:
            return reply
        if reply.stream is not None:
            reply.canonical_stream()
        else:
            reply.canonical()
        return reply
