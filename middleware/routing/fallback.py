"""Fallback: when a model group fails for good (its retries spent), try the groups configured behind it.

Which list applies is decided by the error's type, never its text: ContextWindowExceeded →
context_window_fallbacks, ContentPolicy → content_policy_fallbacks (each when the group has one), any
other upstream failure or an all-cooling group → the request's `fallbacks`, else router_settings.fallbacks,
else default_fallbacks. A plain bad request (the upstream's own 400) would fail anywhere: no fallback.
Each fallback group goes through retry and router again; max_fallbacks caps how many are tried.
"""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError, UpstreamUnavailable
from kernel.registry import middleware
from middleware.routing.context import routing_of

FALLBACKS_HEADER = "x-relaykit-attempted-fallbacks"


@middleware("fallback")
class Fallback:
    def __init__(self, options, gateway) -> None:
        self.rc = routing_of(gateway)

    async def __call__(self, call: Call, next: Next) -> Reply:
        options = call.options
        if options and options.get("mock_testing_fallbacks"):
            # LiteLLM's switch for trying a fallback chain: the requested group fails without being called.
            err = UpstreamUnavailable(f"mock_testing_fallbacks: model {call.model!r} failed on purpose", status=500)
            return await self.fall_back(call, next, err)
        try:
            return await next(call)
        except GatewayError as err:
            return await self.fall_back(call, next, err)

    async def fall_back(self, call: Call, next: Next, err: GatewayError) -> Reply:
        rc = call.routing or self.rc
        chain = rc.fallback_chain(err, call)
        if not chain:
            raise err
        body = call.body
        tried = 0
        try:
            for name, overrides in chain:
                tried += 1
                other = call.fork(model=name, deployment=None,
                                  body={**body, **overrides} if overrides and isinstance(body, dict) else body)
                try:
                    return await next(other)
                except GatewayError as again:
                    err = again
                finally:
                    call.adopt(other)
            raise err
        finally:
            call.reply_headers[FALLBACKS_HEADER] = str(tried)
