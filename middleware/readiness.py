"""readiness: GET /health/readiness, for load balancers: 200 while this process can serve, 503 when its store is not.

`dependencies` lists what the process leans on, each with a `state`:
- `database`: "connected", "degraded" (answers pings, but the spend writer's last batch failed), "not
  connected" (no answer within a second) or "not configured" (no key management: no store);
- `redis`: "not configured" (relaykit keeps its state in process and in the database; it uses no Redis);
- `request_logs`: "ok", "degraded" (an outlet's writes or deliveries fail, or its queue is full and records are
  dropped) or "not configured", with each outlet's queue depth, drops and last error;
- `metrics`: "on" or "off"; `traces`: "on" (callbacks otel or langfuse) or "off".
Only the database makes readiness 503: without it keys cannot be checked and spend piles up in memory. A
degraded log sink is listed in `degraded` but stays 200: client calls do not wait on it (its queue is bounded
and its own task sends), so taking the process out of the load balancer would turn lost logs into lost traffic.
The top-level `db`, `spend_rows_queued` and `spend_rows_dropped` fields stay for clients that read them.
Each sink reports itself through its `health()` (middleware/observe); this link only gathers them.
"""

from __future__ import annotations

import asyncio

from kernel.call import Call, Next, Reply
from kernel.registry import middleware
from kernel.store import StoreError
from middleware.governance.state import governance_of
from middleware.spend.sinks import sinks_of

PING_TIMEOUT = 1.0  # seconds: a store slower than this to answer counts as down for readiness
SERVING = frozenset({"connected", "not configured"})  # database states in which this process is ready


@middleware("readiness")
class Readiness:
    def __init__(self, options, gateway) -> None:
        self.gateway = gateway
        self.store = governance_of(gateway).store
        self.models = len(gateway.settings.deployments)
        self.sinks = sinks_of(gateway)  # the same list the meter feeds; read at each request (sinks may join late)

    async def database(self) -> dict:
        if self.store is None:
            return {"state": "not configured"}
        db = {"state": "connected"}
        try:
            await asyncio.wait_for(self.store.schema_version(), PING_TIMEOUT)
        except (StoreError, OSError, TimeoutError) as exc:
            db["state"] = "not connected"
            db["error"] = self.gateway.scrubber.scrub(getattr(exc, "message", None) or str(exc) or "timed out")
        spend = self.gateway.shared.get("spend")
        if spend is not None:
            writer = spend.writer
            db["spend_rows_queued"] = writer.rows_queued
            db["spend_rows_dropped"] = writer.dropped
            if not writer.healthy and db["state"] == "connected":
                db["state"] = "degraded"  # answers pings, but the last spend batch failed
                db["error"] = self.gateway.scrubber.scrub(writer.last_error or "")
        return db

    async def __call__(self, call: Call, next: Next) -> Reply:
        db = await self.database()
        deps = {"database": db, "redis": {"state": "not configured"},
                "request_logs": {"state": "not configured"}, "metrics": {"state": "off"}, "traces": {"state": "off"}}
        for sink in self.sinks:
            health = getattr(sink, "health", None)
            if health is not None:
                deps.update(health())
        body = {"status": "healthy", "models": self.models, "db": db["state"]}
        if "error" in db:
            body["db_error"] = db["error"]
        if "spend_rows_queued" in db:
            body["spend_rows_queued"] = db["spend_rows_queued"]
            body["spend_rows_dropped"] = db["spend_rows_dropped"]
        body["degraded"] = sorted(name for name, dep in deps.items() if dep["state"] == "degraded")
        body["dependencies"] = deps
        if db["state"] not in SERVING:
            body["status"] = "unhealthy"
            return Reply(status=503, body=body)
        return Reply(body=body)
