"""Checks of router_settings against the model list: names a fallback or alias points at, policy keys.

They need config data only, so config loading runs them at startup (and user_config on a request's own router);
the routing package reads the same LiteLLM error names to build its policy tables.
"""

from __future__ import annotations

from typing import Any

from kernel.errors import (
    ContentPolicy,
    GatewayError,
    RateLimited,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from kernel.models import Deployment, ModelTable

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


def router_problems(router: Any, deployments: list[Deployment], where: str) -> tuple[list[str], list[str]]:
    """(problems, doubts) phrased like the config loader's: `<file>: router_settings.fallbacks[gpt-4][0]: ...`.

    Unknown policy keys are problems. A name no deployment serves is a doubt: LiteLLM accepts it (and a
    wildcard added later may serve it), so the config file only warns; a request's user_config refuses it.
    """
    aliases = {k: (v["model"] if isinstance(v, dict) else v) for k, v in router.model_group_alias.items()}
    table = ModelTable(list(deployments), aliases)
    problems: list[str] = []
    doubts: list[str] = []

    def check(name: Any, path: str) -> None:
        if not isinstance(name, str) or not table.lookup(name):
            doubts.append(f"{where}.{path}: no model_list entry serves {name!r}")

    for field in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for group, targets in getattr(router, field).items():
            if group != "*":
                check(group, f"{field}[{group}]")
            for i, target in enumerate(targets):
                check(target, f"{field}[{group}][{i}]")
    for i, target in enumerate(router.default_fallbacks):
        check(target, f"default_fallbacks[{i}]")
    for alias, target in aliases.items():
        if not isinstance(target, str) or not table.lookup(target):
            doubts.append(f"{where}.model_group_alias.{alias}: no model_list entry serves {target!r}")
    for field, suffix in (("retry_policy", "Retries"), ("allowed_fails_policy", "AllowedFails")):
        known = policy_keys(suffix)
        for key in getattr(router, field):
            if key not in known:
                problems.append(f"{where}.{field}.{key}: unknown key (known: {', '.join(known)})")
    return problems, doubts
