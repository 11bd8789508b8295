"""Forward: send an OpenAI API call (files, batches, fine-tuning, assistants, threads, responses) as it is
to the model's OpenAI deployment, swapping the gateway key for the upstream key."""

from __future__ import annotations

import orjson

from kernel.call import Call, Next, Reply
from kernel.errors import ClientError, UnknownModel
from kernel.guards.paths import join_segments, path_segments, query_suffix
from kernel.models import timeouts
from kernel.registry import PROVIDERS, middleware
from kernel.transport import UpstreamRequest, relay, transport_of

# Client headers worth passing on; auth and hop-by-hop headers are never forwarded.
_PASS_HEADERS = ("content-type", "accept", "openai-beta", "idempotency-key")


@middleware("forward")
class Forward:
    def __init__(self, options, gateway) -> None:
        self.transport = transport_of(gateway)
        self.scrubber = gateway.scrubber
        self.router = gateway.settings.router
        self.models = gateway.models

    def deployment_for(self, call: Call):
        model = None
        if call.raw[:1] == b"{":
            try:
                body = orjson.loads(call.raw)
                model = body.get("model") if isinstance(body, dict) else None
            except orjson.JSONDecodeError:
                model = None
        candidates = self.models.lookup(model) if isinstance(model, str) else []
        forwardable = [d for d in candidates if PROVIDERS[d.provider].forwards]
        if forwardable:
            return forwardable[0]
        if candidates:  # a configured model served only by other providers: never send it to some OpenAI deployment
            raise ClientError(f"model {model!r} has no OpenAI deployment, and {call.path} is an OpenAI API that relaykit "
                              "passes on as it is", param="model")
        for group in self.models.exact.values():
            for d in group:
                if PROVIDERS[d.provider].forwards:
                    return d
        for _, group in self.models.wildcards:
            for d in group:
                if PROVIDERS[d.provider].forwards:
                    return d
        raise UnknownModel(f"no OpenAI deployment is configured to serve {call.path}", param="model")

    async def __call__(self, call: Call, next: Next) -> Reply:
        # Checked first, before anything else is looked at: the URL is built from these segments only, never
        # from the decoded path, which the HTTP client would normalise (`..%2F` → `../` → out of /v1).
        segments = path_segments(call.raw_path, call.path)
        query = query_suffix(call.query)
        if segments[0] == "v1":  # /v1/files/x and /files/x both go to the deployment's base (which ends in /v1)
            segments = segments[1:]
        d = self.deployment_for(call)
        call.deployment = d
        provider = PROVIDERS[d.provider]
        url = provider.forward_url(d, "/" + join_segments(segments)) + query
        headers = {k: call.headers[k] for k in _PASS_HEADERS if k in call.headers}
        headers.update(provider.auth_headers(d))
        content = call.raw
        if call.form is not None:  # a multipart upload: stream it through untouched
            content = call.form.chunks()
        req = UpstreamRequest(call.method, url, headers, content=content or None, stream=True, passthrough=True)
        total, _ = timeouts(d, self.router, call.options.get("request_timeout"))
        return await relay(self.transport, self.scrubber, call, d, req, total)
