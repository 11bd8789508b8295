"""Dialect decode: the client's wire format → the canonical body, with gateway-only fields set aside."""

from __future__ import annotations

import time

from kernel import offload
from kernel.call import Call, Next, Reply
from kernel.registry import DIALECTS, middleware


@middleware("decode")
class DialectDecode:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        call.marks.append(("auth", time.perf_counter()))  # the links before this one check the key (Server-Timing)
        dialect = DIALECTS[call.dialect]
        decode_json = dialect.decode_json  # a dialect's synchronous decode of a JSON body, or None
        if call.form is None and decode_json is not None:
            # A big body is parsed, checked and translated off the event loop (see kernel/offload.py);
            # uploads stay async (their parts are read from the client as they arrive).
            await offload.run(call.raw, decode_json, call)
        else:
            await dialect.decode(call)
        call.marks.append(("decode", time.perf_counter()))
        return await next(call)
