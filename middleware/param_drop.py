"""Param drop: refuse (400) or drop the request parameters the chosen provider does not support."""

from __future__ import annotations

from kernel.call import Call, Next, Reply
from kernel.errors import UnsupportedParam
from kernel.registry import PROVIDERS, middleware

# Fields every provider accepts: they are the request itself, not tunable parameters.
_ALWAYS = frozenset({"model", "messages", "prompt", "input", "stream", "stream_options"})


def drop_path(body: dict, path: str) -> dict:
    """Remove `a.b` or `tools[*].input_examples` from a body, copying only what it changes."""
    head, _, rest = path.partition(".")
    if head.endswith("[*]"):
        key = head[:-3]
        items = body.get(key)
        if not isinstance(items, list) or not rest:
            return body
        new_items = [drop_path(i, rest) if isinstance(i, dict) else i for i in items]
        return {**body, key: new_items}
    if head not in body:
        return body
    if not rest:
        return {k: v for k, v in body.items() if k != head}
    inner = body[head]
    return {**body, head: drop_path(inner, rest)} if isinstance(inner, dict) else body


@middleware("param_drop")
class ParamDrop:
    def __init__(self, options, gateway) -> None:
        self.global_drop = gateway.settings.drop_params

    async def __call__(self, call: Call, next: Next) -> Reply:
        d = call.deployment
        body = call.body
        if d is None or not isinstance(body, dict):
            return await next(call)
        original = body
        for path in d.additional_drop_params:
            body = drop_path(body, path)
        supported = getattr(PROVIDERS.get(d.provider), "supported_params", None)
        if supported is not None:
            allowed = set(d.allowed_openai_params) | set(call.options.get("allowed_openai_params") or ())
            extra = [k for k in body if k not in supported and k not in _ALWAYS and k not in allowed]
            if extra:
                drop = call.options.get("drop_params")
                if drop is None:
                    drop = d.drop_params if d.drop_params is not None else self.global_drop
                if not drop:
                    name = extra[0]
                    raise UnsupportedParam(
                        f"{d.provider} does not support parameter {name!r} (model {call.model!r}); "
                        "remove it, or set drop_params: true to drop unsupported parameters",
                        param=name)
                body = {k: v for k, v in body.items() if k not in extra}
        if body is original:
            return await next(call)
        call.body = body
        try:
            return await next(call)
        finally:
            call.body = original  # a fallback to another provider starts from what the client sent
