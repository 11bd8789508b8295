"""Deployment probes: one tiny call per deployment, for GET /health and, when configured, in the background.

`general_settings.background_health_checks: true` (LiteLLM's key; off by default, as in LiteLLM) runs every
probe each `health_check_interval` seconds (default 300, LiteLLM's) in one task started with the gateway and
stopped at shutdown. Runs never overlap (the next waits for the last to end), probes run in parallel (at most
`PARALLEL` at once) and each has a deadline, so a run is bounded. Each result feeds the router: a deployment
whose probe fails for a reason of its own (5xx, timeout, refused connection, 429, our key refused, a missing
model) cools down for `cooldown_time` like one whose call failed; a passing probe ends its cooldown. GET /health
then answers from the latest run instead of calling every deployment again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from kernel.call import Call
from kernel.errors import GatewayError, UpstreamTimeout
from kernel.pipeline import fold
from kernel.registry import PROVIDERS, resolve_middleware
from middleware.routing import policy
from middleware.routing.context import routing_of

log = logging.getLogger("relaykit.health")

PING = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
PROBE_TIMEOUT = 30.0  # seconds a probe may take when its deployment sets no timeout of its own
PARALLEL = 16  # probes in flight at once: a large model list must not open hundreds of upstream calls together


class Prober:
    """Calls one deployment through the provider_call link alone (no auth, routing, spend or logs)."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.probe = fold([resolve_middleware("provider_call")(None, gateway)])

    def targets(self) -> list:
        # A wildcard entry has no one model to call.
        return [d for d in self.gateway.settings.deployments if "*" not in d.upstream_model]

    async def check(self, d) -> tuple[bool, dict, GatewayError | None]:
        """(healthy, the /health entry, the error when the deployment failed)."""
        mode = d.model_info.get("mode", "chat")
        endpoint = "embeddings" if mode == "embedding" else "chat"
        endpoints = PROVIDERS[d.provider].endpoints
        if endpoints is not None and endpoint not in endpoints:
            endpoint = next(iter(sorted(endpoints)))
        body = {"model": d.upstream_model, "input": "ping"} if endpoint == "embeddings" else {
            "model": d.upstream_model, **PING}
        probe = Call(id="health", route="health", endpoint=endpoint, dialect="openai", gateway=self.gateway,
                     body=body, model=d.model_name, deployment=d)
        entry = {"model": d.model_name, "model_id": d.id, "provider": d.provider}
        try:
            reply = await asyncio.wait_for(self.probe(probe), timeout=d.timeout or PROBE_TIMEOUT)
            if reply.stream is not None:
                await reply.stream.aclose()
            return True, entry, None
        except GatewayError as err:
            return False, {**entry, "error": self.gateway.scrubber.scrub(err.message), "status": err.status}, err
        except TimeoutError:
            err = UpstreamTimeout("health check timed out")
            return False, {**entry, "error": err.message, "status": 504}, err

    async def run(self) -> tuple[dict, list]:
        """Every target once, in parallel (bounded): the body GET /health answers, and (deployment, result)s."""
        gate = asyncio.Semaphore(PARALLEL)

        async def bounded(d):
            async with gate:
                return d, await self.check(d)

        results = await asyncio.gather(*(bounded(d) for d in self.targets()))
        healthy = [e for _, (ok, e, _) in results if ok]
        unhealthy = [e for _, (ok, e, _) in results if not ok]
        return {"healthy_endpoints": healthy, "unhealthy_endpoints": unhealthy, "healthy_count": len(healthy),
                "unhealthy_count": len(unhealthy)}, results


class BackgroundHealth:
    """The background loop and its latest results (one per process, in gateway.shared["background_health"])."""

    def __init__(self, gateway, interval: float) -> None:
        self.prober = Prober(gateway)
        self.routing = routing_of(gateway)
        self.interval = interval
        self.latest: dict | None = None
        self.checked_at: float | None = None  # wall-clock time the latest run ended
        self.first = asyncio.Event()
        self.task: asyncio.Task | None = None
        gateway.on_startup(self.start)
        gateway.on_shutdown(self.stop)

    async def start(self) -> None:
        self.first = asyncio.Event()  # made on the serving loop
        self.task = asyncio.create_task(self._loop(), name="relaykit-health-checks")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a bug in one run must not end the checks
                log.exception("background health check failed")
            await asyncio.sleep(self.interval)

    async def run_once(self) -> None:
        body, results = await self.prober.run()
        now = time.monotonic()
        for d, (ok, _, err) in results:
            if ok:
                self.routing.mark_healthy(d)
            elif policy.cooldown_count(err, False, {}, 0) is not None:
                self.routing.mark_unhealthy(d, now)
        self.checked_at = time.time()
        self.latest = body
        self.first.set()

    async def report(self) -> dict:
        """The latest run's results with when it ended (waiting for the first run when none has ended yet)."""
        if self.latest is None:
            await self.first.wait()
        return {**self.latest, "last_checked_at": self.checked_at,
                "last_checked": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.checked_at)),
                "health_check_interval": self.interval, "background": True}


def background_health_of(gateway) -> BackgroundHealth | None:
    """The process's background checks, or None unless `general_settings.background_health_checks` is true."""
    general = gateway.settings.general
    if not general.background_health_checks:
        return None
    bg = gateway.shared.get("background_health")
    if bg is None:
        bg = gateway.shared["background_health"] = BackgroundHealth(gateway, general.health_check_interval)
    return bg
