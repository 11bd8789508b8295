"""Retry: a retryable failure sends the call back through the router, up to num_retries times.

The router picks again, preferring a deployment this call has not failed on; only when none is left does
the retry wait (exponential backoff with jitter, at least the upstream's Retry-After). Which errors are
retried is decided by type: the `retryable` flag (429, 5xx, timeouts, connection failures), or
router_settings.retry_policy per error type.
"""

from __future__ import annotations

import asyncio

from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError
from kernel.registry import middleware
from middleware.routing.backoff import retry_delay
from middleware.routing.context import routing_of

RETRIES_HEADER = "x-relaykit-attempted-retries"


@middleware("retry")
class Retry:
    def __init__(self, options, gateway) -> None:
        self.rc = routing_of(gateway)

    async def __call__(self, call: Call, next: Next) -> Reply:
        try:
            return await next(call)
        except GatewayError as err:
            return await self.again(call, next, err)

    async def again(self, call: Call, next: Next, err: GatewayError) -> Reply:
        rc = call.routing or self.rc
        done = 0
        try:
            while True:
                if done >= rc.retries_for(err, call):
                    raise err
                target = rc.retry_target(call)
                if target == "none":
                    raise err  # the group has cooled down: the real failure says more than a 429 would
                if target == "fresh":
                    delay = 0.0  # another deployment is ready: no reason to wait
                else:
                    delay = retry_delay(done, floor=rc.settings.retry_after,
                                        retry_after=getattr(err, "retry_after", None), rng=rc.rng)
                    if call.attempts:
                        call.attempts[-1].delay = delay  # what the failure cost in waiting, for logs and tests
                    await asyncio.sleep(delay)
                done += 1
                tried = call.fork(deployment=None)  # a fresh pick from the router
                try:
                    return await next(tried)
                except GatewayError as again:
                    err = again
                finally:
                    call.adopt(tried)
        finally:
            if done:
                before = int(call.reply_headers.get(RETRIES_HEADER, 0))
                call.reply_headers[RETRIES_HEADER] = str(before + done)
