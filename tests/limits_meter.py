"""A test-only stand-in for the `meter` link: runs `call.on_done` hooks once, when the answer is complete.

The lead's meter (middleware/spend/meter.py) replaces it; until then tests/test_rate_limits.py puts this first in
its chains (outside `encode`, so it sees the reply the client gets and the stream the server closes). Tokens come
from a non-streamed body's `usage` (OpenAI's or Anthropic's names); a stream that ends reports none.
"""

from __future__ import annotations

import orjson

from middleware.spend.usage import Usage


def _run(call, usage: Usage | None) -> None:
    hooks, call.on_done = call.on_done, None  # taken before running: each hook runs once
    for hook in hooks or ():
        hook(usage)


def _usage(reply) -> Usage:
    data = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
    try:
        used = orjson.loads(data).get("usage") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return Usage()
    return Usage(prompt_tokens=used.get("prompt_tokens", used.get("input_tokens", 0)),
                 completion_tokens=used.get("completion_tokens", used.get("output_tokens", 0)))


class _Finishing:
    """The reply stream, running the hooks at its end, on its failure, or when the server closes it early."""

    def __init__(self, stream, call) -> None:
        self.stream = stream
        self.call = call

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.stream.__anext__()
        except StopAsyncIteration:
            _run(self.call, Usage())
            raise
        except BaseException:
            _run(self.call, None)
            raise

    async def aclose(self) -> None:
        _run(self.call, None)  # a no-op after the end: the hooks are gone by then
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            await aclose()


class RunOnDone:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call, next):
        try:
            reply = await next(call)
        except BaseException:
            _run(call, None)
            raise
        if reply.status >= 400:
            _run(call, None)
        elif reply.stream is None:
            _run(call, _usage(reply))
        else:
            reply.stream = _Finishing(reply.stream, call)
        return reply
