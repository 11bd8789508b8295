"""Dialect encode: the canonical reply (or a same-dialect pass-through) → the client's wire format, and every error
raised inside the chain → the client's error envelope.

It sits outermost in a chain: its work happens on the way out. It is the error boundary of a chain: an error
raised by any link below becomes the dialect's envelope here (kernel.app.error_reply, secrets masked); errors
inside a stream are encoded in-band by the dialect's stream encoder. Only what never reached a chain (an unknown
path, an unreadable body) or escaped it (a cancelled call) is rendered by the adapter, the same way.
"""

from __future__ import annotations

from kernel.app import error_reply
from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError
from kernel.registry import DIALECTS, middleware


@middleware("encode")
class DialectEncode:
    def __init__(self, options, gateway) -> None:
        self.gateway = gateway

    async def __call__(self, call: Call, next: Next) -> Reply:
        dialect = DIALECTS[call.dialect]
        try:
            reply = await next(call)
        except GatewayError as err:
            return error_reply(dialect, err, self.gateway, call)
        return dialect.encode(call, reply)
