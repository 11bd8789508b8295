"""Endpoints the gateway answers itself: the model list and the health checks."""

from __future__ import annotations

import asyncio
import time

from kernel.call import Call, Next, Reply
from kernel.errors import GatewayError
from kernel.pipeline import fold
from kernel.registry import PROVIDERS, middleware, resolve_middleware


@middleware("list_models")
class ListModels:
    """GET /v1/models: the configured model names in OpenAI's list shape."""

    def __init__(self, options, gateway) -> None:
        created = int(time.time())
        self.body = {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": created, "owned_by": "relaykit"}
                     for name in gateway.models.names()],
        }

    async def __call__(self, call: Call, next: Next) -> Reply:
        return Reply(body=self.body)


@middleware("liveliness")
class Liveliness:
    """Answers while the process runs; no auth, no upstream."""

    def __init__(self, options, gateway) -> None:
        self.models = len(gateway.settings.deployments)

    async def __call__(self, call: Call, next: Next) -> Reply:
        return Reply(body={"status": "healthy", "models": self.models})


@middleware("health")
class Health:
    """GET /health: call each deployment once and report healthy and unhealthy ones with the reason."""

    PING = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}

    def __init__(self, options, gateway) -> None:
        self.gateway = gateway
        # Each probe runs through the provider_call link alone (a chain of one, resolved by name like any other).
        self.probe = fold([resolve_middleware("provider_call")(None, gateway)])

    async def check(self, d) -> tuple[bool, dict]:
        mode = d.model_info.get("mode", "chat")
        endpoint = "embeddings" if mode == "embedding" else "chat"
        endpoints = PROVIDERS[d.provider].endpoints
        if endpoints is not None and endpoint not in endpoints:
            endpoint = next(iter(sorted(endpoints)))
        body = {"model": d.upstream_model, "input": "ping"} if endpoint == "embeddings" else {
            "model": d.upstream_model, **self.PING}
        probe = Call(id="health", route="health", endpoint=endpoint, dialect="openai", gateway=self.gateway,
                     body=body, model=d.model_name, deployment=d)
        entry = {"model": d.model_name, "model_id": d.id, "provider": d.provider}
        try:
            reply = await asyncio.wait_for(self.probe(probe), timeout=d.timeout or 30)
            if reply.stream is not None:
                await reply.stream.aclose()
            return True, entry
        except GatewayError as err:
            return False, {**entry, "error": self.gateway.scrubber.scrub(err.message), "status": err.status}
        except TimeoutError:
            return False, {**entry, "error": "health check timed out", "status": 504}

    async def __call__(self, call: Call, next: Next) -> Reply:
        targets = [d for d in self.gateway.settings.deployments if "*" not in d.upstream_model]
        results = await asyncio.gather(*(self.check(d) for d in targets))
        healthy = [e for ok, e in results if ok]
        unhealthy = [e for ok, e in results if not ok]
        return Reply(body={"healthy_endpoints": healthy, "unhealthy_endpoints": unhealthy,
                           "healthy_count": len(healthy), "unhealthy_count": len(unhealthy)})
