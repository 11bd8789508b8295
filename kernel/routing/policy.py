"""LiteLLM's per-error-type policies (retry_policy, allowed_fails_policy) mapped onto the gateway's error tree."""

from __future__ import annotations

from kernel.errors import (
    ContentPolicy,
    GatewayError,
    RateLimited,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

# LiteLLM's exception names → our types; a policy key is the name plus "Retries" or "AllowedFails".
ERROR_TYPES: dict[str, type[GatewayError]] = {
    "BadRequestError": UpstreamBadRequest,
    "AuthenticationError": UpstreamAuthError,
    "TimeoutError": UpstreamTimeout,
    "RateLimitError": RateLimited,
    "ContentPolicyViolationError": ContentPolicy,
    "InternalServerError": UpstreamUnavailable,
}


def policy_keys(suffix: str) -> list[str]:
    return [name + suffix for name in ERROR_TYPES]


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


def failure_kind(err: GatewayError, table: dict[type, int]) -> tuple[str, type | None]:
    """The counter a failure goes to: its policy type's own counter, or the shared one."""
    for cls in type(err).__mro__:
        if cls in table:
            return cls.__name__, cls
        if cls is UpstreamError:
            break
    return "*", None
