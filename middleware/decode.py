"""Dialect decode: the client's wire format → the canonical body, with gateway-only fields set aside."""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.registry import DIALECTS, middleware


@middleware("decode")
class DialectDecode:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        await DIALECTS[call.dialect].decode(call)
        return await next(call)
