"""readiness: GET /health/readiness, for load balancers: 200 while this process can serve, 503 when its store is not.

It reports the store (reached within a second, and whether the spend writer's last batch went in) and how
many spend rows wait in memory for it. Without key management there is no store, and ready means running.
"""

from __future__ import annotations

import asyncio

from kernel.call import Call, Next, Reply
from kernel.registry import middleware
from kernel.store import StoreError
from middleware.governance.state import governance_of

PING_TIMEOUT = 1.0  # seconds: a store slower than this to answer counts as down for readiness


@middleware("readiness")
class Readiness:
    def __init__(self, options, gateway) -> None:
        self.gateway = gateway
        self.store = governance_of(gateway).store
        self.models = len(gateway.settings.deployments)

    async def __call__(self, call: Call, next: Next) -> Reply:
        body = {"status": "healthy", "models": self.models, "db": "not configured"}
        if self.store is None:
            return Reply(body=body)
        body["db"] = "connected"
        try:
            await asyncio.wait_for(self.store.schema_version(), PING_TIMEOUT)
        except (StoreError, OSError, TimeoutError) as exc:
            body["db"] = "not connected"
            body["db_error"] = self.gateway.scrubber.scrub(getattr(exc, "message", None) or str(exc) or "timed out")
        spend = self.gateway.shared.get("spend")
        if spend is not None:
            writer = spend.writer
            body["spend_rows_queued"] = writer.rows_queued
            body["spend_rows_dropped"] = writer.dropped
            if not writer.healthy and body["db"] == "connected":
                body["db"] = "degraded"  # answers pings, but the last spend batch failed
                body["db_error"] = self.gateway.scrubber.scrub(writer.last_error or "")
        if body["db"] != "connected":
            body["status"] = "unhealthy"
            return Reply(status=503, body=body)
        return Reply(body=body)
