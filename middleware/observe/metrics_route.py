"""GET /metrics: the Prometheus text exposition, for the master key unless the config opens it.

LiteLLM leaves /metrics open unless `require_auth_for_metrics_endpoint: true`; relaykit asks for the master key
by default (the series name key aliases, teams and spend), and `require_auth_for_metrics_endpoint: false` (in
litellm_settings or general_settings) opens it. Without a master key the gateway is open, and so is this.
"""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.errors import NotFound
from kernel.registry import middleware
from middleware.governance.state import governance_of
from middleware.observe.state import metrics_of


@middleware("metrics")
class MetricsEndpoint:
    def __init__(self, options, gateway) -> None:
        self.state = metrics_of(gateway)
        self.governance = governance_of(gateway)
        self.auth = gateway.settings.metrics_auth and self.governance.master is not None

    async def __call__(self, call: Call, next: Next) -> Reply:
        if self.state is None:
            raise NotFound("metrics are off: add `callbacks: [\"prometheus\"]` under litellm_settings to turn them on")
        if self.auth:
            await self.governance.require_master(call.headers)
        from prometheus_client import CONTENT_TYPE_LATEST

        return Reply(raw=self.state.exposition(), wire="binary", media_type=CONTENT_TYPE_LATEST)
