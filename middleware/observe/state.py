"""The metrics of one process: their families, the sink the meter feeds, and what a scrape reads.

They exist only when the config switches them on (`litellm_settings.callbacks: ["prometheus"]`): off, no sink
is registered, so the meter does no work for them, and GET /metrics answers 404 saying how to turn them on.
"""

from __future__ import annotations

import time

from middleware.observe import multiproc
from middleware.observe.families import Families
from middleware.observe.sink import MetricsSink
from middleware.routing.context import routing_of
from middleware.spend.sinks import sinks_of


class MetricsState:
    __slots__ = ("deployments", "families", "multiprocess", "registry")

    def __init__(self, gateway) -> None:
        from prometheus_client import CollectorRegistry

        self.multiprocess = multiproc.enabled()
        # Multiprocess: values go to files whatever the registry; a scrape reads them all (exposition()).
        self.registry = None if self.multiprocess else CollectorRegistry(auto_describe=False)
        self.families = Families(self.registry)
        self.deployments = {d.id: d for d in gateway.settings.deployments}
        sinks_of(gateway).append(MetricsSink(self.families, self.deployments, routing_of(gateway)))
        # The CLI runs these in the parent before it starts --num_workers workers (kernel/serve/cli.py).
        gateway.shared.setdefault("before_workers", []).append(multiproc.prepare)
        if self.multiprocess:
            gateway.on_shutdown(_mark_self_dead)

    def exposition(self) -> bytes:
        """The text a scrape gets: every family (summed over workers), and the deployments' state."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Scrape(self))
        return generate_latest(registry)

    def families_now(self):
        if self.multiprocess:
            from prometheus_client.multiprocess import MultiProcessCollector

            multiproc.mark_dead_workers()
            return list(MultiProcessCollector(None).collect())
        return list(self.registry.collect())


class _Scrape:
    """A collector: the families as they stand, plus litellm_deployment_state computed from the cooldown ends."""

    def __init__(self, state: MetricsState) -> None:
        self.state = state

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        families = self.state.families_now()
        until: dict[str, float] = {}
        for family in families:
            if family.name == "relaykit_deployment_cooldown_until_seconds":
                for sample in family.samples:
                    model_id = sample.labels.get("model_id", "")
                    until[model_id] = max(until.get(model_id, 0.0), sample.value)
        yield from families
        now = time.time()
        state = GaugeMetricFamily("litellm_deployment_state", "Deployment state: 0 healthy, 2 cooling down after "
                                  "failures (complete outage)",
                                  labels=["litellm_model_name", "model_id", "api_base", "api_provider"])
        for d in self.state.deployments.values():
            state.add_metric([d.upstream_model, d.id, d.api_base or "", d.provider],
                             2.0 if until.get(d.id, 0.0) > now else 0.0)
        yield state


async def _mark_self_dead() -> None:
    multiproc.mark_self_dead()


def metrics_of(gateway) -> MetricsState | None:
    """The process's metrics, or None when the config does not switch them on."""
    if not gateway.settings.observe.of_kind("prometheus"):
        return None
    state = gateway.shared.get("metrics")
    if state is None:
        state = gateway.shared["metrics"] = MetricsState(gateway)
    return state
