"""LiteLLM's per-error-type policies (retry_policy, allowed_fails_policy) mapped onto the gateway's error tree."""

from __future__ import annotations

from kernel.config.router_checks import ERROR_TYPES  # the config's names for the types; checked at config load
from kernel.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
)


def policy_table(policy: dict[str, int], suffix: str) -> dict[type, int]:
    """{'RateLimitErrorRetries': 3} → {RateLimited: 3}; unknown keys are caught at config load."""
    out: dict[type, int] = {}
    for name, cls in ERROR_TYPES.items():
        if name + suffix in policy:
            out[cls] = int(policy[name + suffix])
    return out


def lookup(table: dict[type, int], err: BaseException) -> int | None:
    if not table:
        return None
    for cls in type(err).__mro__:
        if cls in table:
            return table[cls]
    return None


def is_missing(err: GatewayError) -> bool:
    """The upstream has no such model or deployment (404): the deployment's problem, not the request's."""
    return isinstance(err, UpstreamBadRequest) and err.status == 404


def is_health_failure(err: GatewayError) -> bool:
    """Failures that say something about the deployment (not about the request): they count toward cooldown."""
    return err.retryable or isinstance(err, UpstreamAuthError)


def _policy_type(err: GatewayError, table: dict[type, int]) -> type | None:
    """The allowed_fails_policy entry an upstream failure falls under, if the operator gave its type one.

    BadRequestErrorAllowedFails is LiteLLM's BadRequestError, an HTTP 400: it never takes in a 404, 413 or
    422 (which LiteLLM types apart), nor the context-window error, which no policy key names."""
    if not table:
        return None
    for cls in type(err).__mro__:
        if cls is UpstreamError:
            return None
        if cls in table:
            if cls is UpstreamBadRequest and (type(err) is not UpstreamBadRequest or err.status != 400):
                return None
            return cls
    return None


def cooldown_count(err: GatewayError, wildcard: bool, table: dict[type, int], allowed_fails: int
                   ) -> tuple[str, int] | None:
    """Whether a failed attempt counts toward its deployment's cooldown: (counter, failures allowed) or None.

    Only the deployment's own failures count: 5xx, timeouts, refused connections and 429 (allowed_fails a
    minute), our key refused (401/403) and a configured model missing upstream (404) at once, since a minute
    will not mend those. What the request caused never counts by default, so no client can cool a
    deployment for the others: relaykit's own 400s (a ClientError never reaches an upstream), and the
    upstream's 4xx answers to the request (400, 413, 422, context window, content policy, and a 404 behind
    a wildcard, where the client chose the model name). An operator may opt a type in with
    allowed_fails_policy (e.g. BadRequestErrorAllowedFails), which also gives it a counter of its own."""
    if not isinstance(err, UpstreamError):
        return None
    cls = _policy_type(err, table)
    if cls is not None:
        return cls.__name__, table[cls]
    if isinstance(err, UpstreamAuthError) or (is_missing(err) and not wildcard):
        return "*", 0
    if is_health_failure(err):
        return "*", allowed_fails
    return None
