"""user_config: a request that brings its own model list and router settings gets a router of its own.

The seed's "Pass User LLM API Keys, Fallbacks": the body's `user_config` (model_list, num_retries,
allowed_fails, fallbacks, timeout, routing_strategy, ...) is validated like the config file, with errors
naming the path (`user_config.model_list[0].litellm_params.model: ...`), and becomes a RoutingContext that
lives on this call only (when the call's model is one it lists; other models keep the gateway's config).
It carries credentials and URLs, so it is refused unless general_settings.allow_client_side_credentials
is true; and nothing in it is ever filled from the
server's environment (no `os.environ/` references, no provider key variables).
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs

from kernel.call import Call, Next, Reply
from kernel.config import CONFIG_SCHEMA, ENV_PREFIX, RouterSettings, build_deployment, json_path, schema_problems
from kernel.config.router_checks import router_problems
from kernel.errors import ClientError, PermissionDenied
from kernel.models import ModelTable
from kernel.registry import middleware
from middleware.routing.context import RoutingContext

FIELD = "user_config"
_FALLBACK_FIELDS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
# The config file's own schema pieces: a user_config is a model_list plus router_settings keys, flat (RouterConfig).
USER_SCHEMA = {
    "$defs": CONFIG_SCHEMA["$defs"],
    "type": "object",
    "required": ["model_list"],
    "properties": {"model_list": {**CONFIG_SCHEMA["properties"]["model_list"], "minItems": 1},
                   **CONFIG_SCHEMA["properties"]["router_settings"]["properties"]},
    "additionalProperties": False,
}
_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


class InvalidUserConfig(ClientError):
    code = "invalid_user_config"


def _at(problem: str) -> str:
    """`user_config: model_list[0].x: ...` (the loader's file-style prefix) → `user_config.model_list[0].x: ...`."""
    head = FIELD + ": "
    if problem.startswith(head):
        rest = problem[len(head):]
        return FIELD + ("" if rest.startswith("(top level)") else ".") + rest.removeprefix("(top level)")
    return problem


def _env_refs(node: Any, path: list, out: list[str]) -> None:
    if isinstance(node, str) and node.startswith(ENV_PREFIX):
        out.append(f"{json_path([FIELD, *path])}: os.environ/ references are not allowed in a request")
    elif isinstance(node, dict):
        for k, v in node.items():
            _env_refs(v, [*path, k], out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _env_refs(v, [*path, i], out)


def _merge(items: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for item in items:
        for k, v in item.items():
            merged.setdefault(k, []).extend(v)
    return merged


def build_user_router(data: Any) -> RoutingContext:
    """Validate a user_config and build its router; InvalidUserConfig (400) lists every problem with its path."""
    if not isinstance(data, dict):
        raise InvalidUserConfig(f"'{FIELD}' must be an object with a model_list", param=FIELD)
    problems = [_at(p) for p in schema_problems(USER_SCHEMA, data, FIELD)]
    _env_refs(data, [], problems)
    if problems:
        raise _invalid(problems)
    router_raw = {k: v for k, v in data.items() if k != "model_list"}
    for name in _FALLBACK_FIELDS:
        router_raw[name] = _merge(router_raw.get(name) or [])
    settings = RouterSettings()
    try:
        settings = _converter.structure(router_raw, RouterSettings)
    except cattrs.ClassValidationError as exc:
        problems += cattrs.transform_error(exc, path=FIELD)
    warnings: list[str] = []
    deployments = []
    for i, entry in enumerate(data["model_list"]):
        d = build_deployment(entry, i, problems, warnings, FIELD, env=False)
        if d is not None:
            # Router-wide timeouts become each deployment's, so the shared provider call applies them.
            deployments.append(attrs.evolve(
                d, client_credentials=True,
                timeout=d.timeout if d.timeout is not None else settings.timeout,
                stream_timeout=d.stream_timeout if d.stream_timeout is not None else settings.stream_timeout))
    problems = [_at(p) for p in problems]
    if not problems:
        found, doubts = router_problems(settings, deployments, FIELD)
        problems = found + doubts  # a request's own config must be complete: no later wildcard will fill it
    if problems:
        raise _invalid(problems)
    aliases = {k: (v["model"] if isinstance(v, dict) else v) for k, v in settings.model_group_alias.items()}
    return RoutingContext(ModelTable(deployments, aliases), settings, allow_client_credentials=True)


def _invalid(problems: list[str]) -> InvalidUserConfig:
    first = problems[0]
    param = first.split(":", 1)[0].split(" @ ")[-1] if first.startswith(FIELD) else FIELD
    return InvalidUserConfig("invalid user_config: " + "; ".join(problems), param=param)


@middleware("user_config")
class UserConfig:
    def __init__(self, options, gateway) -> None:
        self.allowed = gateway.settings.general.allow_client_side_credentials

    async def __call__(self, call: Call, next: Next) -> Reply:
        data = call.options.get(FIELD)
        if data is None:
            return await next(call)
        if not self.allowed:
            raise PermissionDenied(
                "user_config carries model credentials and URLs, so this gateway refuses it; an operator can "
                "allow it with general_settings.allow_client_side_credentials: true in the config",
                param=FIELD)
        rc = build_user_router(data)
        model = call.model
        if model is not None and "," not in model and not rc.models.lookup(model):
            # The seed's JS example names a model its user_config does not list: it is served by the
            # gateway's own config, as it would be without user_config (and with nothing from the user's).
            return await next(call)
        call.routing = rc
        return await next(call)
