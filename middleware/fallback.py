"""Fallback: when a call fails with a retryable error, try the next deployment the router lined up."""

from __future__ import annotations

from kernel.call import Attempt, Call, Next, Reply
from kernel.errors import GatewayError
from kernel.registry import middleware


@middleware("fallback")
class Fallback:
    def __init__(self, options, gateway) -> None:
        pass

    async def __call__(self, call: Call, next: Next) -> Reply:
        while True:
            try:
                return await next(call)
            except GatewayError as err:
                call.attempts.append(Attempt(call.deployment.id if call.deployment else "?", type(err).__name__))
                if not err.retryable or not call.candidates:
                    raise
                call.deployment = call.candidates.pop(0)
