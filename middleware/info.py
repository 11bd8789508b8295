"""Endpoints the gateway answers itself: the model list and the health checks."""

from __future__ import annotations

import time

from kernel.call import Call, Next, Reply
from kernel.registry import middleware
from middleware.routing.probes import Prober, background_health_of


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
    """GET /health: each deployment's probe result, healthy and unhealthy ones with the reason. With
    background_health_checks on, the latest background run's (middleware/routing/probes.py); else probed now."""

    def __init__(self, options, gateway) -> None:
        self.background = background_health_of(gateway)
        self.prober = self.background.prober if self.background is not None else Prober(gateway)

    async def __call__(self, call: Call, next: Next) -> Reply:
        if self.background is not None:
            return Reply(body=await self.background.report())
        body, _ = await self.prober.run()
        return Reply(body=body)
