"""The RoutingContext: one router's deployments, settings, strategy and state, and the decisions made from them.

The gateway has one, built at startup from the config (`routing_of`). A request with `user_config` gets its
own for that request alone, in `call.routing` (links read `call.routing or <the gateway's>`).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from kernel.call import Attempt, Call
from kernel.errors import (
    ClientError,
    ContentPolicy,
    ContextWindowExceeded,
    GatewayError,
    PermissionDenied,
    UnknownModel,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamTimeout,
)
from kernel.models import Deployment, ModelTable, timeouts
from kernel.registry import PROVIDERS
from middleware.routing import credentials, policy
from middleware.routing.state import RouterState, current_minute, state_key
from middleware.routing.strategies import STRATEGIES


class NoDeploymentsAvailable(GatewayError):
    """Every deployment of a group is cooling down or at its rate limit: the client should come back later."""

    status = 429
    type = "rate_limit_error"
    code = "no_deployments_available"


def supports(d: Deployment, endpoint: str) -> bool:
    return endpoint in PROVIDERS[d.provider].endpoints


class RoutingContext:
    __slots__ = ("allow_client_credentials", "choose", "content_policy_fallbacks", "context_window_fallbacks",
                 "default_fallbacks", "fails_policy", "fallbacks", "models", "retry_policy", "rng", "settings",
                 "state", "track_busy", "track_latency", "track_usage", "tracks")

    def __init__(self, models: ModelTable, settings: Any, *, allow_client_credentials: bool = False) -> None:
        self.models = models
        self.settings = settings
        self.allow_client_credentials = allow_client_credentials
        self.state = RouterState()
        strategy = settings.routing_strategy
        self.choose = STRATEGIES[strategy]
        self.track_busy = strategy == "least-busy"
        self.track_latency = strategy == "latency-based-routing"
        self.track_usage = strategy.startswith("usage-based")
        self.tracks = self.track_busy or self.track_latency or self.track_usage  # any per-call bookkeeping
        self.rng = random.Random(settings.routing_strategy_args.get("seed"))
        self.fallbacks = settings.fallbacks
        self.context_window_fallbacks = settings.context_window_fallbacks
        self.content_policy_fallbacks = settings.content_policy_fallbacks
        self.default_fallbacks = list(settings.default_fallbacks or settings.fallbacks.get("*") or ())
        self.retry_policy = policy.policy_table(settings.retry_policy, "Retries")
        self.fails_policy = policy.policy_table(settings.allowed_fails_policy, "AllowedFails")

    # -- choosing -------------------------------------------------------------------------------------------

    def group(self, call: Call) -> list[Deployment]:
        """The deployments that may serve the call's model and endpoint (404-ish errors as 400s, like OpenAI)."""
        if call.model is None:
            # Endpoints where OpenAI makes `model` optional (moderations, images): the first deployment serving it.
            group = [d for names in self.models.exact.values() for d in names if supports(d, call.endpoint)]
            if not group:
                raise UnknownModel(f"no configured model serves {call.endpoint}; name one with `model`", param="model")
            return group[:1]
        group = self.models.lookup(call.model)
        if not group:
            raise UnknownModel(
                f"model {call.model!r} is not served by this gateway; GET /v1/models lists the models it serves",
                param="model")
        if len(group) == 1:
            if not supports(group[0], call.endpoint):
                raise ClientError(f"model {call.model!r} ({group[0].provider}) does not support {call.endpoint}",
                                  param="model", code="unsupported_endpoint")
            return group
        usable = [d for d in group if supports(d, call.endpoint)]
        if not usable:
            raise ClientError(f"model {call.model!r} ({group[0].provider}) does not support {call.endpoint}",
                              param="model", code="unsupported_endpoint")
        return usable

    def available(self, group: list[Deployment], call: Call) -> list[Deployment]:
        """The group without cooling deployments, without those refusing the call's client credentials,
        and (when a retry has a choice) without the ones this call already failed on."""
        state = self.state
        if state.cooling:
            now = time.monotonic()
            usable = [d for d in group if state.cooling_until(state_key(d), now) is None]
            if not usable:
                wait = min(state.cooling[state_key(d)] for d in group) - now
                raise NoDeploymentsAvailable(
                    f"no deployments available for model {call.model!r}: all {len(group)} are cooling down "
                    f"after failures; retry in {wait:.1f}s",
                    headers={"retry-after": str(max(1, math.ceil(wait)))})
            group = usable
        creds = call.credentials
        if creds and not self.allow_client_credentials:
            group = [d for d in group if credentials.allows(d, creds)]
            if not group:
                raise PermissionDenied(f"client-side credentials are not allowed for model {call.model!r}",
                                       param=next(iter(creds)))
        if call.attempts and len(group) > 1:
            failed = {a.deployment for a in call.attempts}
            fresh = [d for d in group if d.id not in failed]
            if fresh:
                group = fresh
        return group

    def select(self, call: Call) -> Deployment:
        group = self.available(self.group(call), call)
        if len(group) == 1 and not self.track_usage:
            return group[0]
        d = self.choose(group, self, call)
        if d is None:
            raise NoDeploymentsAvailable(
                f"no deployments available for model {call.model!r}: every deployment is at its rpm/tpm limit "
                "for this minute", headers={"retry-after": str(max(1, 60 - int(time.time() % 60)))})
        if self.track_usage:
            self.state.of(state_key(d)).usage(current_minute()).rpm_used += 1
        return d

    def retry_target(self, call: Call) -> str:
        """Where a retry would go now: "fresh" (a deployment this call has not failed on: no need to wait),
        "same" (only ones it failed on: back off first) or "none" (all cooling: retrying cannot help)."""
        try:
            group = self.available(self.group(call), call)
        except GatewayError:
            return "none"
        failed = {a.deployment for a in call.attempts}
        return "fresh" if any(d.id not in failed for d in group) else "same"

    # -- outcomes -------------------------------------------------------------------------------------------

    def failed(self, call: Call, d: Deployment, err: GatewayError, ms: float) -> None:
        """Note a failed attempt on the call, and count it toward the deployment's cooldown when it is
        the deployment's fault (see policy.cooldown_count for the rule)."""
        call.attempts.append(Attempt(d.id, type(err).__name__, ms, status=err.status, at=time.perf_counter()))
        if not isinstance(err, UpstreamError):
            return
        if call.use_client_credentials:
            # With the client's own key or URL the failure says nothing about the configured deployment,
            # and must not let one client cool it down for everyone.
            return
        asked = call.options.get("request_timeout")
        if isinstance(err, UpstreamTimeout) and asked is not None and asked < timeouts(d, self.settings)[0]:
            return  # the client's own deadline, shorter than the deployment's: its patience, not the deployment's fault
        counted = policy.cooldown_count(err, "*" in d.model_name, self.fails_policy, self.settings.allowed_fails)
        if counted is not None:
            kind, allowed = counted
            self.state.record_failure(state_key(d), kind, allowed, self.settings.cooldown_time, time.monotonic())

    def mark_unhealthy(self, d: Deployment, now: float) -> None:
        """A failed health probe (middleware/routing/probes.py): the deployment cools down for cooldown_time at
        once, as past allowed_fails; a probe is a deliberate check, so one failure is enough."""
        self.state.record_failure(state_key(d), "*", 0, self.settings.cooldown_time, now)

    def mark_healthy(self, d: Deployment) -> None:
        """A passing health probe: the deployment answers again, so its cooldown and failure counts end now."""
        key = state_key(d)
        self.state.cooling.pop(key, None)
        stats = self.state.stats.get(key)
        if stats is not None:
            stats.fails.clear()

    # -- retries and fallbacks ------------------------------------------------------------------------------

    def retries_for(self, err: GatewayError, call: Call) -> int:
        """How many retries this error earns: retry_policy for its type, else (when retryable) the request's
        num_retries, the deployment's, or the router's."""
        by_policy = policy.lookup(self.retry_policy, err)
        if by_policy is not None:
            return by_policy
        if not err.retryable:
            return 0
        asked = call.options.get("num_retries")
        if asked is not None:
            if isinstance(asked, bool) or not isinstance(asked, int) or asked < 0:
                raise ClientError("'num_retries' must be a non-negative integer", param="num_retries")
            return asked
        d = call.deployment
        if d is not None and d.num_retries is not None:
            return d.num_retries
        return self.settings.num_retries

    def fallback_chain(self, err: GatewayError, call: Call) -> list[tuple[str, dict]]:
        """The model groups to try after `err`, in order: context-window and content-policy errors use their own
        lists when the group has one; other upstream failures (not a plain bad request) use `fallbacks`
        (the request's, else the config's, else default_fallbacks). Capped at max_fallbacks."""
        model = call.model
        if model is None:
            return []
        names = None
        opts = call.options
        if isinstance(err, ContextWindowExceeded):
            names = self._mapped(opts.get("context_window_fallbacks"), self.context_window_fallbacks, model,
                                 "context_window_fallbacks")
        elif isinstance(err, ContentPolicy):
            names = self._mapped(opts.get("content_policy_fallbacks"), self.content_policy_fallbacks, model,
                                 "content_policy_fallbacks")
        if names is None:
            if not (isinstance(err, NoDeploymentsAvailable) or policy.is_missing(err)
                    or (isinstance(err, UpstreamError) and not isinstance(err, UpstreamBadRequest))):
                return []
            asked = opts.get("fallbacks")
            if asked is not None:
                names = _request_list(asked, "fallbacks", model)
            else:
                names = self._mapped(None, self.fallbacks, model, "fallbacks")
                if names is None:
                    names = self.default_fallbacks
        limit = opts.get("max_fallbacks", self.settings.max_fallbacks)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ClientError("'max_fallbacks' must be a non-negative integer", param="max_fallbacks")
        out = []
        for entry in names:
            if isinstance(entry, str):
                name, overrides = entry, {}
            else:
                name, overrides = entry["model"], {k: v for k, v in entry.items() if k != "model"}
            if name != model:
                out.append((name, overrides))
        return out[:limit]

    def _mapped(self, asked: Any, configured: dict[str, list[str]], model: str, field: str) -> list | None:
        if asked is not None:
            return _request_list(asked, field, model)
        names = configured.get(model)
        if names is None:
            resolved = self.models.aliases.get(model)
            if resolved is not None:
                names = configured.get(resolved)
        return names


def _request_list(asked: Any, field: str, model: str) -> list:
    """A per-request fallback list: model names, {"model": name, ...overrides}, or LiteLLM's [{group: [names]}]."""
    if not isinstance(asked, list):
        raise ClientError(f"'{field}' must be a list of model names", param=field)
    out: list = []
    for i, item in enumerate(asked):
        if isinstance(item, str) or (isinstance(item, dict) and isinstance(item.get("model"), str)):
            out.append(item)
        elif isinstance(item, dict) and all(isinstance(v, list) for v in item.values()):
            out.extend(n for n in item.get(model, ()) if isinstance(n, str))
        else:
            raise ClientError(f"'{field}[{i}]' must be a model name or an object with \"model\"", param=f"{field}[{i}]")
    return out


def routing_of(gateway) -> RoutingContext:
    """The gateway's own router, shared by every middleware and pipeline of the process."""
    rc = gateway.shared.get("routing")
    if rc is None:
        rc = gateway.shared["routing"] = RoutingContext(
            gateway.models, gateway.settings.router,
            allow_client_credentials=gateway.settings.general.allow_client_side_credentials)
    return rc
