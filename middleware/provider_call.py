"""Provider call: the innermost link. The provider's hooks build the upstream request and read its answer; the
gateway's transport (kernel/transport) sends it."""

from __future__ import annotations

import time

import httpx

from kernel import offload
from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError
from kernel.models import timeouts
from kernel.registry import DIALECTS, PROVIDERS, middleware
from kernel.transport import Upstream
from middleware.ratelimit_names import copy_upstream
from middleware.routing.credentials import apply_credentials


@middleware("provider_call")
class ProviderCall:
    def __init__(self, options, gateway) -> None:
        self.upstream = Upstream(gateway)  # handed to a provider's `prepare` hook (an OAuth token exchange)
        self.transport = self.upstream.transport
        self.router = gateway.settings.router
        self.scrubber = gateway.scrubber
        # A non-streamed answer is held whole: at most this many bytes of it (see kernel/transport/http1.py).
        self.max_response = int(gateway.settings.general.max_response_size_mb * (1 << 20))

    async def __call__(self, call: Call, next: Next) -> Reply:
        d = call.deployment
        if d is None:
            raise GatewayError("provider_call needs a router before it in the chain", status=500)
        provider = PROVIDERS[d.provider]
        if call.native_only is not None:
            wire = DIALECTS[call.dialect].wire
            if wire != provider.wire and wire not in provider.native_wires:
                raise call.native_only  # the request needs what only a provider speaking the client's wire has
        if call.use_client_credentials:
            d = apply_credentials(d, call.credentials or {})
        prepare = provider.prepare
        if prepare is not None:  # credentials that need I/O first (a cached OAuth token), through the transport
            minted = await prepare(d, self.upstream)
            if minted.api_key != d.api_key:
                self.scrubber.remember(minted.api_key)  # an upstream may echo it too; a set lookup when known
            d = minted
        if provider.local:
            call.marks.append(("route", time.perf_counter()))
            return await offload.run(call.raw, provider.answer, call, d)
        # Translating a big body (and serialising it) runs off the event loop, like its decoding did.
        req = await offload.run(call.raw, provider.build_request, call, d)
        total, first = timeouts(d, self.router, call.options.get("request_timeout"))
        t0 = time.perf_counter()
        call.marks.append(("route", t0))  # routing and translating done: Server-Timing's "route" ends here
        resp = await self.transport.send(req, d, first if req.stream else total, self.max_response)
        call.upstream_s += time.perf_counter() - t0
        if resp.status >= 400:
            raise provider.parse_error(resp.status, httpx.Headers(resp.headers), resp.body, d)
        copy_upstream(resp.headers, call.reply_headers)  # only the allow-listed rate-limit names, prefixed
        wire = req.wire or provider.wire
        if resp.stream is not None:
            return Reply(status=resp.status, stream=resp.stream, wire=wire, decode_stream=_bind_stream(provider, call),
                         media_type=resp.header(b"content-type", "text/event-stream"))
        return Reply(status=resp.status, raw=resp.body, wire=wire, decode=_bind(provider.parse_response, call),
                     media_type=resp.header(b"content-type", "application/json"))


def _bind(fn, call: Call):
    # A closure, not functools.partial: same cost, and it reads as what it is.
    return lambda data: fn(call, data)


def _bind_stream(provider, call: Call):
    return lambda chunks: provider.parse_stream(call, chunks)
