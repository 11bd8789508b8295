"""Work on a big request body runs in a worker thread, so the event loop keeps answering other clients meanwhile.

Parsing, checking and translating a 9 MB body of 250,000 messages takes about a second of CPU; on the
loop, every other client (health checks included) waits that long. In a thread the loop keeps running:
the worker drops the GIL every switch interval while it runs Python code. What still stalls the loop is
a single C call that holds the GIL throughout: orjson parsing or serialising the whole body (tens of
milliseconds per 10 MB), and the cyclic garbage collector, which building half a million dicts sets off
again and again, each full pass over them holding the GIL for up to ~100 ms. So automatic collection is
paused while big bodies are being worked on (those dicts form no cycles: reference counting frees them)
and resumes when the last one is done. Small bodies stay on the loop, where a thread hop (~50 µs) would
cost more than the work.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import TypeVar

BIG_BODY = 1 << 20  # bytes of raw request body from which decode and translation leave the loop

T = TypeVar("T")
_busy = 0  # big-body jobs in flight; changed only on the event loop's thread, so no lock
_resume_gc = False  # whether the collector was on when the first of them started


async def run(raw: bytes, fn: Callable[..., T], *args) -> T:
    """`fn(*args)`, in a worker thread when the request body `raw` is big, else right here on the loop.

    `fn` must touch only what it is given (the call being decoded or translated), never shared state."""
    if len(raw) <= BIG_BODY:
        return fn(*args)
    global _busy, _resume_gc
    if _busy == 0:
        _resume_gc = gc.isenabled()
        gc.disable()
    _busy += 1
    try:
        return await asyncio.to_thread(fn, *args)
    finally:
        _busy -= 1
        if _busy == 0 and _resume_gc:
            gc.enable()
