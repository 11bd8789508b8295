"""Dialect encode: the canonical reply (or a same-dialect pass-through) → the client's wire format.

It sits outermost in a chain: its work happens on the way out. Errors raised before a response starts
are rendered in the client's envelope by the adapter; errors inside a stream are encoded here, in-band.
"""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.registry import DIALECTS, middleware


@middleware("encode")
class DialectEncode:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        reply = await next(call)
        return DIALECTS[call.dialect].encode(call, reply)
