"""Param drop: refuse (400) or drop the OpenAI parameters the chosen provider does not support.

Each provider declares `supported_params` (None: it takes every parameter). For an OpenAI parameter outside
that set the caller gets a 400 naming the parameter and the provider, unless drop_params is on — per request
(`drop_params` in the body), per deployment (litellm_params.drop_params), or globally (litellm_settings or
`--drop_params`), the nearest one deciding — and then it is dropped. `additional_drop_params` (deployment or
request; nested paths such as `tools[*].input_examples`) are always dropped; `allowed_openai_params` forces
a parameter through. Fields that are not OpenAI parameters are provider-specific and always passed on.

A parameter that asks for nothing is dropped silently, never refused: an explicit null (null means "not set")
or OpenAI's own default (`n: 1`, `logprobs: false`, which LangChain and others send with every request).
"""

from __future__ import annotations

from kernel.bodies import drop_path
from kernel.call import Call, Next, Reply
from kernel.errors import ClientError, UnsupportedParam
from kernel.params import OPENAI_PARAMS
from kernel.registry import PROVIDERS, middleware

# Fields every provider accepts: they are the request itself, not tunable parameters.
_ALWAYS = frozenset({"model", "messages", "prompt", "input", "stream", "stream_options"})
CHECKED = OPENAI_PARAMS - _ALWAYS
# OpenAI's defaults for the parameters a provider most often lacks: sent with this value, it asks for nothing.
_DEFAULTS = {"n": 1, "best_of": 1, "presence_penalty": 0, "frequency_penalty": 0, "logprobs": False, "echo": False}
_NO_DEFAULT = object()


def asks_nothing(key: str, value: object) -> bool:
    """Whether `key: value` leaves the request as if it were not sent: null, or OpenAI's default (`n: true` is not
    `n: 1`, nor `logprobs: 0` `logprobs: false`)."""
    if value is None:
        return True
    default = _DEFAULTS.get(key, _NO_DEFAULT)
    return (type(value) is bool) == (type(default) is bool) and value == default


def _names(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ClientError(f"{field!r} must be a list of parameter names", param=field)


@middleware("param_drop")
class ParamDrop:
    def __init__(self, options, gateway) -> None:
        self.global_drop = gateway.settings.drop_params
        self._refused: dict[str, frozenset[str]] = {}  # provider name → OpenAI params it does not take

    def refused(self, provider_name: str) -> frozenset[str]:
        hit = self._refused.get(provider_name)
        if hit is None:
            supported = PROVIDERS[provider_name].supported_params
            hit = self._refused[provider_name] = frozenset() if supported is None else CHECKED - supported
        return hit

    def drop_on(self, call: Call) -> bool:
        drop = call.options.get("drop_params")
        if drop is not None:
            if not isinstance(drop, bool):
                raise ClientError("'drop_params' must be true or false", param="drop_params")
            return drop
        d = call.deployment
        return d.drop_params if d.drop_params is not None else self.global_drop

    async def __call__(self, call: Call, next: Next) -> Reply:
        d = call.deployment
        body = call.body
        if d is None or not isinstance(body, dict):
            return await next(call)
        original = body
        options = call.options
        for path in d.additional_drop_params:
            body = drop_path(body, path)
        if options:
            for path in _names(options.get("additional_drop_params"), "additional_drop_params"):
                body = drop_path(body, path)
        refused = self.refused(d.provider)
        if refused and not refused.isdisjoint(body):
            allowed = d.allowed_openai_params
            if options:
                allowed = (*allowed, *_names(options.get("allowed_openai_params"), "allowed_openai_params"))
            extra = [k for k in body if k in refused and k not in allowed]
            if extra:
                wanted = [k for k in extra if not asks_nothing(k, body[k])]
                if wanted and not self.drop_on(call):
                    names = ", ".join(repr(k) for k in wanted)
                    raise UnsupportedParam(
                        f"provider {d.provider!r} does not support parameter{'s' if len(wanted) > 1 else ''} "
                        f"{names} (model {call.model!r}); remove it, allow it with allowed_openai_params, or "
                        "set drop_params: true to drop unsupported parameters", param=wanted[0])
                body = {k: v for k, v in body.items() if k not in extra}
        if body is original:
            return await next(call)
        # The dropped body goes on in a copy, so a fallback to another provider starts from what the client sent.
        trimmed = call.fork(body=body)
        try:
            return await next(trimmed)
        finally:
            call.adopt(trimmed)
